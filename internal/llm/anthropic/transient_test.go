package anthropic_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/anthropic"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
)

// Reset connections, a body cut after the headers and an overload are
// retried against the Messages API, plain and streamed, and classified;
// the SDK's own retries are off, so each attempt is one request.
func TestFinding5TransientFailuresAreRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault llmtest.Fault
		class llm.ErrorClass
	}{
		{"connection reset", llmtest.Reset, llm.ClassTransport},
		{"closed after the headers", llmtest.CloseAfterHeaders, llm.ClassTransport},
		{"503", llmtest.Unavailable, llm.ClassServerError},
	} {
		for _, stream := range []bool{false, true} {
			t.Run(tc.name+map[bool]string{false: "", true: " streamed"}[stream], func(t *testing.T) {
				t.Parallel()
				wire := llmtest.NewWire(func(n int, _ string, _ []byte) llmtest.Fault {
					if n <= 2 {
						return tc.fault
					}
					return llmtest.Answer
				})
				defer wire.Close()
				var waits []time.Duration
				p := llm.Retry(anthropic.New(anthropic.Config{APIKey: "sk-ant-test", BaseURL: wire.URL, HTTPClient: llmtest.Client()}),
					llm.RetryPolicy{Attempts: 3, Base: 50 * time.Millisecond,
						Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }})
				var retried []llm.Retried
				var deltas []string
				req := llm.Request{Model: "claude-test", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}},
					OnRetry: func(r llm.Retried) { retried = append(retried, r) }}
				if stream {
					req.OnDelta = func(s string) { deltas = append(deltas, s) }
				}
				resp, err := p.Chat(context.Background(), req)
				require.NoError(t, err)
				require.Equal(t, "Hello there.", resp.Message.Content)
				require.Equal(t, []llmtest.Fault{tc.fault, tc.fault, llmtest.Answer}, wire.Faults())
				require.Len(t, retried, 2)
				require.Equal(t, tc.class, retried[0].Class, retried[0].Error)
				require.Equal(t, tc.class, retried[1].Class)
				require.Len(t, waits, 2)
				if stream {
					require.Equal(t, []string{"Hello ", "there."}, deltas)
				}

				// Past the attempts the error keeps its class.
				always := llmtest.NewWire(func(int, string, []byte) llmtest.Fault { return tc.fault })
				defer always.Close()
				p = llm.Retry(anthropic.New(anthropic.Config{APIKey: "sk-ant-test", BaseURL: always.URL, HTTPClient: llmtest.Client()}),
					llm.RetryPolicy{Attempts: 2, Sleep: func(context.Context, time.Duration) error { return nil }})
				_, err = p.Chat(context.Background(), req)
				require.Equal(t, tc.class, llm.Classify(err), "%v", err)
				require.Len(t, always.Faults(), 2)
			})
		}
	}
}
