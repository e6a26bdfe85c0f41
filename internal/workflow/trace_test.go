package workflow

import (
	"testing"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pulse-run/pulse/internal/platform/config"
)

// A run is a trace: a span per execution, a child span per node.
func TestRunsAreTraced(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	s, ctx, wf := newService(t, config.SQLite, Params{Tracer: tp.Tracer(TracerName)}, `{"entry":"a","nodes":[
	  {"id":"a","type":"transform","set":{"x":"1"}},{"id":"b","type":"transform","set":{"y":"state.x.z"}}],"edges":[{"from":"a","to":"b"}]}`)
	r, err := s.Start(ctx, StartParams{WorkflowID: wf})
	require.NoError(t, err)
	r, err = s.Execute(ctx, r, nil)
	require.NoError(t, err)
	require.Equal(t, StatusFailed, r.Status)

	spans := rec.Ended()
	require.Len(t, spans, 3)
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, sp := range spans {
		byName[sp.Name()] = sp
	}
	root := byName["workflow "+wf]
	require.NotNil(t, root)
	require.Equal(t, "Error", root.Status().Code.String())
	for _, n := range []string{"node a", "node b"} {
		require.NotNil(t, byName[n], n)
		require.Equal(t, root.SpanContext().SpanID(), byName[n].Parent().SpanID())
	}
	require.Equal(t, "Error", byName["node b"].Status().Code.String())
	require.Equal(t, "Unset", byName["node a"].Status().Code.String())
}
