package llm

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type flaky struct {
	errs  []error
	calls int
}

func (f *flaky) Chat(context.Context, Request) (*Response, error) {
	f.calls++
	if f.calls <= len(f.errs) {
		return nil, f.errs[f.calls-1]
	}
	return &Response{Message: Message{Content: "ok"}}, nil
}

func TestRetry(t *testing.T) {
	t.Parallel()
	busy := &Error{Provider: "x", Status: 503, Retryable: true, Err: errors.New("overloaded")}
	var waits []time.Duration
	wrap := func(p Provider, attempts int) *retrying {
		return Retry(p, RetryPolicy{Attempts: attempts, Base: 100 * time.Millisecond, Max: 10 * time.Second,
			Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}).(*retrying)
	}

	f := &flaky{errs: []error{busy, busy}}
	resp, err := wrap(f, 3).Chat(context.Background(), Request{})
	require.NoError(t, err)
	require.Equal(t, "ok", resp.Message.Content)
	require.Equal(t, 3, f.calls)
	require.Len(t, waits, 2)
	require.LessOrEqual(t, waits[0], 100*time.Millisecond, "full jitter under the first backoff")
	require.LessOrEqual(t, waits[1], 200*time.Millisecond)

	f = &flaky{errs: []error{busy, busy, busy}}
	_, err = wrap(f, 3).Chat(context.Background(), Request{})
	require.ErrorIs(t, err, busy, "gives up after the attempts")
	require.Equal(t, 3, f.calls)

	f = &flaky{errs: []error{&Error{Status: 400, Err: errors.New("bad request")}}}
	_, err = wrap(f, 3).Chat(context.Background(), Request{})
	require.Error(t, err)
	require.Equal(t, 1, f.calls, "not retryable")

	waits = nil
	f = &flaky{errs: []error{&Error{Status: 429, Retryable: true, RateLimit: true, RetryAfter: "7", Err: errors.New("slow")}}}
	_, err = wrap(f, 2).Chat(context.Background(), Request{})
	require.NoError(t, err)
	require.Equal(t, 7*time.Second, waits[0], "Retry-After wins over a shorter backoff")

	waits = nil
	f = &flaky{errs: []error{&Error{Status: 429, Retryable: true, RetryAfter: "3600", Err: errors.New("slow")}}}
	_, err = wrap(f, 2).Chat(context.Background(), Request{})
	require.Error(t, err)
	require.Empty(t, waits, "a Retry-After beyond Max is not cut short: the caller falls back instead")
	require.Equal(t, 1, f.calls)

	now := time.Now()
	require.Equal(t, 1500*time.Millisecond, parseRetryAfter("1.5", now))
	require.InDelta(t, float64(30*time.Second), float64(parseRetryAfter(now.Add(30*time.Second).UTC().Format(http.TimeFormat), now)), float64(time.Second))
	require.Zero(t, parseRetryAfter("soon", now))

	// A cancelled context stops the waiting.
	f = &flaky{errs: []error{busy}}
	r := Retry(f, RetryPolicy{Attempts: 3, Base: time.Hour}).(*retrying)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = r.Chat(ctx, Request{})
	require.Error(t, err)
	require.Equal(t, 1, f.calls, "a cancelled call is not tried again")
}

// Finding 5: however long the provider asks to wait (past what a
// Duration holds, or forever), the call is not retried sooner: it fails,
// and the caller falls back.
func TestFinding5HugeRetryAfterIsNotCutShort(t *testing.T) {
	t.Parallel()
	for _, ra := range []string{"1e12", "1e300", "+Inf"} {
		var waits []time.Duration
		f := &flaky{errs: []error{&Error{Status: 503, Retryable: true, RetryAfter: ra, Err: errors.New("down")}}}
		_, err := Retry(f, RetryPolicy{Attempts: 2, Max: 10 * time.Second,
			Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}).Chat(context.Background(), Request{})
		require.Error(t, err, ra)
		require.Empty(t, waits, ra)
		require.Equal(t, 1, f.calls, "Retry-After %s is beyond Max", ra)
	}
}

// halfStream sends some text, then fails with a retryable error.
type halfStream struct{ calls int }

func (h *halfStream) Chat(_ context.Context, req Request) (*Response, error) {
	h.calls++
	if req.OnDelta != nil {
		req.OnDelta("partial ")
	}
	return nil, &Error{Status: 503, Retryable: true, Err: errors.New("dropped")}
}

func TestRetryStopsOnceTextWasStreamed(t *testing.T) {
	t.Parallel()
	r := Retry(&halfStream{}, RetryPolicy{Attempts: 3, Base: time.Millisecond}).(*retrying)
	var got []string
	h := r.p.(*halfStream)
	_, err := r.Chat(context.Background(), Request{OnDelta: func(s string) { got = append(got, s) }})
	require.Error(t, err)
	require.Equal(t, 1, h.calls, "a retry would repeat the text already shown")
	require.Equal(t, []string{"partial "}, got)

	// Without a listener the same failure is retried as usual.
	h.calls = 0
	_, err = r.Chat(context.Background(), Request{})
	require.Error(t, err)
	require.Equal(t, 3, h.calls)
}

// Each retried attempt is reported with its class before the wait; a
// cancelled call is not retried, even when the context is still live.
func TestRetryReportsEachRetry(t *testing.T) {
	t.Parallel()
	reset := NewError("x", 0, nil, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)})
	busy := NewError("x", 503, nil, errors.New("overloaded"))
	var got []Retried
	var waits []time.Duration
	p := Retry(&flaky{errs: []error{reset, busy}}, RetryPolicy{Attempts: 3, Base: 10 * time.Millisecond,
		Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }})
	_, err := p.Chat(context.Background(), Request{OnRetry: func(r Retried) { got = append(got, r) }})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, Retried{Attempt: 1, Class: ClassTransport, Error: reset.Error(), WaitMS: waits[0].Milliseconds()}, got[0])
	require.Equal(t, 2, got[1].Attempt)
	require.Equal(t, ClassServerError, got[1].Class)
	require.Equal(t, 503, got[1].Status)

	f := &flaky{errs: []error{NewError("x", 0, nil, context.Canceled)}}
	_, err = Retry(f, RetryPolicy{Attempts: 3, Sleep: func(context.Context, time.Duration) error { t.Error("slept"); return nil }}).Chat(context.Background(), Request{})
	require.Equal(t, ClassCancelled, Classify(err))
	require.Equal(t, 1, f.calls)
}
