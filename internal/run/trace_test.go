package run

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pulse-run/pulse/internal/agent"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/tool"
)

func attr(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// A run is one trace: the run span, a span per step under it, and a span per
// provider attempt under its model step, retries included.
func TestRunSpans(t *testing.T) {
	t.Parallel()
	busy := &llm.Error{Provider: "openai", Status: 429, Retryable: true, RateLimit: true, Err: errors.New("slow down")}
	model := llmtest.New(llmtest.Fail(busy), llmtest.Call(call("c1", "current_time", `{}`)), llmtest.Say("Noon."))
	reg := llm.NewRegistry()
	reg.Register("openai", llm.Retry(model, llm.RetryPolicy{Attempts: 2, Base: time.Millisecond}))
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	loop := &Loop{Models: reg, Tools: tool.NewRuntime(nil), Now: time.Now, Tracer: tp.Tracer(TracerName)}

	out := loop.Execute(context.Background(), LoopParams{RunID: "r1", Spec: spec(), Input: "time?"})
	require.Equal(t, StatusSucceeded, out.Status, out.ErrorMessage)

	spans := rec.Ended()
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	require.Len(t, byName["run a"], 1)
	root := byName["run a"][0]
	require.False(t, root.Parent().IsValid(), "the run is the root")
	require.Equal(t, "r1", attr(root, "pulse.run.id").AsString())
	require.Equal(t, "succeeded", attr(root, "pulse.run.status").AsString())
	require.Equal(t, int64(out.Usage.InputTokens), attr(root, "gen_ai.usage.input_tokens").AsInt64())

	steps := byName["model openai/gpt-test"]
	require.Len(t, steps, 2)
	require.Len(t, byName["tool current_time"], 1)
	for _, s := range append(steps, byName["tool current_time"]...) {
		require.Equal(t, root.SpanContext().SpanID(), s.Parent().SpanID(), s.Name())
		require.Equal(t, root.SpanContext().TraceID(), s.SpanContext().TraceID())
	}
	require.Equal(t, int64(1), attr(steps[0], "pulse.step.seq").AsInt64())
	require.Equal(t, int64(2), attr(byName["tool current_time"][0], "pulse.step.seq").AsInt64())

	// Three provider attempts: the rate-limited one, its retry, the last call.
	attempts := byName["chat gpt-test"]
	require.Len(t, attempts, 3)
	require.Equal(t, codes.Error, attempts[0].Status().Code)
	require.Equal(t, int64(429), attr(attempts[0], "http.response.status_code").AsInt64())
	require.Equal(t, steps[0].SpanContext().SpanID(), attempts[0].Parent().SpanID())
	require.Equal(t, steps[0].SpanContext().SpanID(), attempts[1].Parent().SpanID(), "the retry belongs to the same step")
	require.Equal(t, int64(2), attr(attempts[1], "pulse.attempt").AsInt64())
	require.Equal(t, steps[1].SpanContext().SpanID(), attempts[2].Parent().SpanID())
	require.Equal(t, int64(8), attr(attempts[1], "gen_ai.usage.output_tokens").AsInt64(), "usage of the attempt")
}

// A failed run marks its span as an error with the reason.
func TestFailedRunSpan(t *testing.T) {
	t.Parallel()
	b := setupLoop(t, llmtest.Call(call("c1", "current_time", `{}`)))
	rec := tracetest.NewSpanRecorder()
	b.loop.Tracer = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer(TracerName)
	out := b.run(t, spec(func(s *agent.Spec) { s.ModelSettings.MaxTurns = 1 }))
	require.Equal(t, CodeMaxTurnsExceeded, out.ErrorCode)
	var root sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "run a" {
			root = s
		}
	}
	require.NotNil(t, root)
	require.Equal(t, codes.Error, root.Status().Code)
	require.Contains(t, root.Status().Description, "max_turns_exceeded")
}
