package openai_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/agent"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/llm/openai"
	"github.com/pulse-run/pulse/internal/run"
)

// transientBundle is a fake OpenAI-compatible server and a retrying
// provider in front of it whose waits are recorded, not slept.
type transientBundle struct {
	wire  *llmtest.Wire
	mu    sync.Mutex
	waits []time.Duration
}

func setupTransient(t *testing.T, plan llmtest.Plan) *transientBundle {
	t.Helper()
	b := &transientBundle{wire: llmtest.NewWire(plan)}
	t.Cleanup(b.wire.Close)
	return b
}

// retrying wraps a provider at baseURL in the retry policy, with a sleeper
// that returns at once.
func (b *transientBundle) retrying(baseURL string, attempts int) llm.Provider {
	p := openai.New(openai.Config{APIKey: "sk-test", BaseURL: baseURL, HTTPClient: llmtest.Client()})
	return llm.Retry(p, llm.RetryPolicy{Attempts: attempts, Base: 50 * time.Millisecond, Max: 5 * time.Second,
		Sleep: func(ctx context.Context, d time.Duration) error {
			b.mu.Lock()
			b.waits = append(b.waits, d)
			b.mu.Unlock()
			return ctx.Err()
		}})
}

func firstN(n int, f llmtest.Fault) llmtest.Plan {
	return func(i int, _ string, _ []byte) llmtest.Fault {
		if i <= n {
			return f
		}
		return llmtest.Answer
	}
}

var hi = []llm.Message{{Role: llm.RoleUser, Content: "hi"}}

// Each transient failure, plain and streamed, is retried, classified and
// reported; the answer arrives whole.
func TestFinding5TransientFailuresAreRetried(t *testing.T) {
	t.Parallel()
	llmtest.TestTransientRetries(t, "gpt-test", func(_ *testing.T, baseURL string) llm.Provider {
		return openai.New(openai.Config{APIKey: "sk-test", BaseURL: baseURL, HTTPClient: llmtest.Client()})
	}, append(llmtest.TransientCases, llmtest.RateLimitedCase))
}

// The SDK's wrapped errors classify as what they are, after the attempts
// run out; its own retries are off, so each attempt is one request.
func TestFinding5ErrorsClassifyThroughTheSDK(t *testing.T) {
	t.Parallel()
	b := setupTransient(t, firstN(100, llmtest.Reset))
	_, err := b.retrying(b.wire.URL, 3).Chat(context.Background(), llm.Request{Model: "gpt-test", Messages: hi})
	require.Equal(t, llm.ClassTransport, llm.Classify(err), "%v", err)
	require.Contains(t, err.Error(), "connection reset by peer")
	require.Len(t, b.wire.Faults(), 3, "three attempts, no SDK retries on top")

	_, err = b.retrying(llmtest.ClosedURL(), 2).Chat(context.Background(), llm.Request{Model: "gpt-test", Messages: hi})
	require.Equal(t, llm.ClassTransport, llm.Classify(err), "a refused connection: %v", err)

	// A cancelled call is not retried.
	b = setupTransient(t, firstN(100, llmtest.Unavailable))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = b.retrying(b.wire.URL, 3).Chat(ctx, llm.Request{Model: "gpt-test", Messages: hi})
	require.Equal(t, llm.ClassCancelled, llm.Classify(err))
	require.Empty(t, b.waits)

	// A stream that breaks after text reached the listener is not retried.
	b = setupTransient(t, firstN(100, llmtest.ResetMidStream))
	var deltas []string
	_, err = b.retrying(b.wire.URL, 3).Chat(context.Background(), llm.Request{Model: "gpt-test", Messages: hi, OnDelta: func(s string) { deltas = append(deltas, s) }})
	require.Equal(t, llm.ClassTransport, llm.Classify(err), "%v", err)
	require.Equal(t, []string{"Hello "}, deltas)
	require.Len(t, b.wire.Faults(), 1)
}

// memRecorder keeps a run's steps in memory.
type memRecorder struct {
	mu    sync.Mutex
	steps []run.Step
}

func (m *memRecorder) Step(_ context.Context, s *run.Step, _ *run.State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.steps = append(m.steps, *s)
	return nil
}

// A run whose first model keeps resetting connections falls back to the
// next model in its chain once the retries run out; the trace records each
// retry with its class, and the fallback. The first model is behind a
// closed port (refused), or resets every connection.
func TestFinding5RunRetriesThenFallsBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		refused bool
	}{{"resets", false}, {"refused", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			goodSeen := 0 // the wire calls the plan under its lock
			b := setupTransient(t, func(_ int, model string, _ []byte) llmtest.Fault {
				if model == "good" {
					goodSeen++
				}
				if model == "flaky" || goodSeen == 1 {
					return llmtest.Reset // flaky always; good on its first request
				}
				return llmtest.Answer
			})
			reg := llm.NewRegistry()
			first := b.wire.URL
			if tc.refused {
				first = llmtest.ClosedURL()
			}
			reg.Register("openai", b.retrying(first, 3))
			reg.Register("backup", b.retrying(b.wire.URL, 3))
			loop := &run.Loop{Models: reg, Now: time.Now}
			rec := &memRecorder{}
			spec := agent.Spec{Name: "a", Instructions: "Greet.", Model: "openai/flaky"}
			spec.ModelSettings.Fallbacks = []string{"backup/good"}
			out := loop.Execute(context.Background(), run.LoopParams{RunID: "r1", Spec: spec, Input: "hi", Recorder: rec})
			require.Equal(t, run.StatusSucceeded, out.Status, out.ErrorMessage)
			require.JSONEq(t, `"Hello there."`, string(out.Output))

			require.Len(t, rec.steps, 2)
			failed, ok := rec.steps[0], rec.steps[1]
			require.Equal(t, "openai/flaky", failed.Name)
			require.Equal(t, run.StepFailed, failed.Status)
			require.Equal(t, "transport", gjson.GetBytes(failed.Output, "error_class").String(), string(failed.Output))
			require.Len(t, gjson.GetBytes(failed.Output, "retries").Array(), 2, string(failed.Output))
			for _, r := range gjson.GetBytes(failed.Output, "retries").Array() {
				require.Equal(t, "transport", r.Get("class").String())
			}
			require.Equal(t, "backup/good", ok.Name)
			require.Equal(t, run.StepSucceeded, ok.Status)
			require.Equal(t, "openai/flaky", gjson.GetBytes(ok.Input, "fallback_from").String(), string(ok.Input))
			require.Equal(t, "transport", gjson.GetBytes(ok.Input, "fallback_class").String())
			var retries []llm.Retried
			require.NoError(t, json.Unmarshal([]byte(gjson.GetBytes(ok.Output, "retries").Raw), &retries), string(ok.Output))
			require.Len(t, retries, 1, "the fallback's own first request was reset, and retried")
			require.Equal(t, llm.ClassTransport, retries[0].Class)
		})
	}
}
