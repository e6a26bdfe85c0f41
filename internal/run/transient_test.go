package run

import (
	"context"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pulse-run/pulse/internal/agent"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/platform/events"
)

// reset is a connection reset as an SDK returns it: the HTTP client's
// *url.Error around the *net.OpError around the errno, in an llm.Error.
func reset() error {
	return llm.NewError("openai", 0, nil, &url.Error{Op: "Post", URL: "http://127.0.0.1:1/v1/chat/completions",
		Err: &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}})
}

func noSleep(context.Context, time.Duration) error { return nil }

// The step spans carry what the trace records: a retry event per retried
// attempt with its class, the class of each failed attempt, and the
// fallback on the next model's step.
func TestFinding5SpansRecordRetriesAndFallback(t *testing.T) {
	t.Parallel()
	flaky := llmtest.New(llmtest.Fail(reset()))
	good := llmtest.New(llmtest.Fail(reset()), llmtest.Say("Hello."))
	reg := llm.NewRegistry()
	reg.Register("openai", llm.Retry(flaky, llm.RetryPolicy{Attempts: 3, Sleep: noSleep}))
	reg.Register("backup", llm.Retry(good, llm.RetryPolicy{Attempts: 3, Sleep: noSleep}))
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	rec := &memRecorder{}
	loop := &Loop{Models: reg, Now: time.Now, Tracer: tp.Tracer(TracerName)}
	out := loop.Execute(context.Background(), LoopParams{RunID: "r1", Spec: spec(func(s *agent.Spec) {
		s.Tools = nil
		s.ModelSettings.Fallbacks = []string{"backup/good"}
	}), Input: "hi", Recorder: rec})
	require.Equal(t, StatusSucceeded, out.Status, out.ErrorMessage)
	require.Len(t, flaky.Calls(), 3)
	require.Len(t, good.Calls(), 2)

	require.Len(t, rec.steps, 2)
	require.Equal(t, "transport", gjson.GetBytes(rec.steps[0].Output, "error_class").String())
	require.Equal(t, int64(2), gjson.GetBytes(rec.steps[0].Output, "retries.#").Int())
	require.Equal(t, "openai/gpt-test", gjson.GetBytes(rec.steps[1].Input, "fallback_from").String())

	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range sr.Ended() {
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	first := byName["model openai/gpt-test"]
	require.Len(t, first, 1)
	require.Equal(t, "transport", attr(first[0], "error.type").AsString())
	require.Equal(t, int64(2), attr(first[0], "pulse.retries").AsInt64())
	var retries int
	for _, ev := range first[0].Events() {
		if ev.Name == "retry" {
			retries++
			for _, kv := range ev.Attributes {
				if kv.Key == "error.type" {
					require.Equal(t, "transport", kv.Value.AsString())
				}
			}
		}
	}
	require.Equal(t, 2, retries)
	attempts := byName["chat gpt-test"]
	require.Len(t, attempts, 3)
	for _, a := range attempts {
		require.Equal(t, "transport", attr(a, "error.type").AsString())
	}
	second := byName["model backup/good"]
	require.Len(t, second, 1)
	require.Equal(t, "openai/gpt-test", attr(second[0], "pulse.fallback_from").AsString())
	require.Equal(t, "transport", attr(second[0], "pulse.fallback_class").AsString())
	require.Equal(t, int64(1), attr(second[0], "pulse.retries").AsInt64())
}

// halfThenReset streams a word, then fails as a reset connection.
type halfThenReset struct{ calls int }

func (h *halfThenReset) Chat(_ context.Context, req llm.Request) (*llm.Response, error) {
	h.calls++
	if req.OnDelta != nil {
		req.OnDelta("Hel")
	}
	return nil, reset()
}

// A reset after text reached the stream is neither retried nor handed to
// the fallback (the listener would see the start twice): the run fails
// transiently, so a background run is tried again from its checkpoint.
func TestFinding5ResetMidStreamIsNotRepeated(t *testing.T) {
	t.Parallel()
	half := &halfThenReset{}
	backup := llmtest.New(llmtest.Say("Hello."))
	reg := llm.NewRegistry()
	reg.Register("openai", llm.Retry(half, llm.RetryPolicy{Attempts: 3, Sleep: noSleep}))
	reg.Register("backup", backup)
	loop := &Loop{Models: reg, Now: time.Now}
	var deltas []string
	out := loop.Execute(context.Background(), LoopParams{RunID: "r1", Spec: spec(func(s *agent.Spec) {
		s.Tools = nil
		s.ModelSettings.Fallbacks = []string{"backup/good"}
	}), Input: "hi", Events: func(e Event) {
		if e.Type == events.MessageDelta {
			deltas = append(deltas, e.Data.(map[string]any)["text"].(string))
		}
	}})
	require.Equal(t, StatusFailed, out.Status)
	require.Equal(t, CodeProviderError, out.ErrorCode)
	require.True(t, out.Transient, "another attempt of the run may succeed")
	require.Equal(t, 1, half.calls)
	require.Empty(t, backup.Calls())
	require.Equal(t, []string{"Hel"}, deltas)

	// Without a listener nothing was shown: the fallback answers.
	half.calls = 0
	out = loop.Execute(context.Background(), LoopParams{RunID: "r2", Spec: spec(func(s *agent.Spec) {
		s.Tools = nil
		s.ModelSettings.Fallbacks = []string{"backup/good"}
	}), Input: "hi"})
	require.Equal(t, StatusSucceeded, out.Status, out.ErrorMessage)
	require.Equal(t, 3, half.calls)
}
