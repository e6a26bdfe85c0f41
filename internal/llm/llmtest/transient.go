package llmtest

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/llm"
)

// TransientCase is a failure a provider's calls must retry, and the class
// it must be given.
type TransientCase struct {
	Name  string
	Fault Fault
	Class llm.ErrorClass
}

// TransientCases are the failures every provider retries.
var TransientCases = []TransientCase{
	{"connection reset", Reset, llm.ClassTransport},
	{"closed after the headers", CloseAfterHeaders, llm.ClassTransport},
	{"503", Unavailable, llm.ClassServerError},
}

// RateLimitedCase is a 429 with Retry-After: 1, for providers whose SDK
// gives the response's headers.
var RateLimitedCase = TransientCase{"429 with Retry-After", RateLimited, llm.ClassRateLimited}

// TestTransientRetries checks, for each case, plain and streamed, that a
// retrying provider made by newProvider (for a fake server at baseURL)
// rides out two failures, reports each retry with its class, lets nothing
// of the failed tries reach the listener, and backs off with jitter (or
// as Retry-After asks); and that past its attempts the error keeps its
// class. The SDK's own retries must be off: each attempt is one request.
func TestTransientRetries(t *testing.T, model string, newProvider func(t *testing.T, baseURL string) llm.Provider, cases []TransientCase) {
	t.Helper()
	for _, tc := range cases {
		for _, stream := range []bool{false, true} {
			t.Run(tc.Name+map[bool]string{false: "", true: " streamed"}[stream], func(t *testing.T) {
				t.Parallel()
				wire := NewWire(func(n int, _ string, _ []byte) Fault {
					if n <= 2 {
						return tc.Fault
					}
					return Answer
				})
				t.Cleanup(wire.Close)
				var mu sync.Mutex
				var waits []time.Duration
				p := llm.Retry(newProvider(t, wire.URL), llm.RetryPolicy{Attempts: 3, Base: 50 * time.Millisecond, Max: 5 * time.Second,
					Sleep: func(ctx context.Context, d time.Duration) error {
						mu.Lock()
						waits = append(waits, d)
						mu.Unlock()
						return ctx.Err()
					}})
				var retried []llm.Retried
				var deltas []string
				req := llm.Request{Model: model, Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}},
					OnRetry: func(r llm.Retried) { retried = append(retried, r) }}
				if stream {
					req.OnDelta = func(s string) { deltas = append(deltas, s) }
				}
				resp, err := p.Chat(context.Background(), req)
				require.NoError(t, err)
				require.Equal(t, "Hello there.", resp.Message.Content)
				require.Equal(t, []Fault{tc.Fault, tc.Fault, Answer}, wire.Faults())
				require.Len(t, retried, 2)
				for i, r := range retried {
					require.Equal(t, i+1, r.Attempt)
					require.Equal(t, tc.Class, r.Class, r.Error)
				}
				if stream {
					require.Equal(t, []string{"Hello ", "there."}, deltas, "nothing of the failed tries reached the listener")
				}
				require.Len(t, waits, 2)
				if tc.Fault == RateLimited {
					require.Equal(t, []time.Duration{time.Second, time.Second}, waits, "Retry-After wins over the shorter backoff")
					require.Equal(t, http.StatusTooManyRequests, retried[0].Status)
				} else {
					require.LessOrEqual(t, waits[0], 50*time.Millisecond, "full jitter under the first backoff")
					require.LessOrEqual(t, waits[1], 100*time.Millisecond)
				}

				// Past the attempts the error keeps its class.
				always := NewWire(func(int, string, []byte) Fault { return tc.Fault })
				t.Cleanup(always.Close)
				p = llm.Retry(newProvider(t, always.URL), llm.RetryPolicy{Attempts: 2, Sleep: func(context.Context, time.Duration) error { return nil }})
				_, err = p.Chat(context.Background(), req)
				require.Equal(t, tc.Class, llm.Classify(err), "%v", err)
				require.Len(t, always.Faults(), 2)
			})
		}
	}
}
