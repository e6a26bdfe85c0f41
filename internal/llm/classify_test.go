package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// timeoutErr is a net.Error that timed out, as net/http's unexported
// timeout errors are.
type timeoutErr string

func (e timeoutErr) Error() string { return string(e) }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func wrapped(err error) error {
	// What an SDK returns: its own wrap around the HTTP client's *url.Error.
	return fmt.Errorf("doRequest: error sending request: %w", &url.Error{Op: "Post", URL: "http://127.0.0.1:1/v1", Err: err})
}

func TestClassify(t *testing.T) {
	t.Parallel()
	refused := func() error {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		_, err = net.Dial("tcp", addr)
		require.Error(t, err)
		return err
	}()
	for _, tc := range []struct {
		name string
		err  error
		want ErrorClass
	}{
		{"nil", nil, ""},
		{"429", NewError("x", http.StatusTooManyRequests, nil, errors.New("slow")), ClassRateLimited},
		{"408", NewError("x", http.StatusRequestTimeout, nil, errors.New("slow")), ClassTimeout},
		{"500", NewError("x", 500, nil, errors.New("boom")), ClassServerError},
		{"529 overloaded", NewError("x", 529, nil, errors.New("overloaded")), ClassServerError},
		{"400", NewError("x", 400, nil, errors.New("bad")), ClassClientError},
		{"401", NewError("x", 401, nil, errors.New("key")), ClassClientError},
		{"reset", NewError("x", 0, nil, wrapped(&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)})), ClassTransport},
		{"refused, really dialled", NewError("x", 0, nil, wrapped(refused)), ClassTransport},
		{"EOF before any byte", wrapped(io.EOF), ClassTransport},
		{"body cut short", fmt.Errorf("error reading response body: %w", io.ErrUnexpectedEOF), ClassTransport},
		{"broken pipe", wrapped(&net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}), ClassTransport},
		{"dial timeout", wrapped(&net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr("i/o timeout")}), ClassTransport},
		{"TLS handshake timeout", wrapped(timeoutErr("net/http: TLS handshake timeout")), ClassTransport},
		{"header timeout", wrapped(timeoutErr("net/http: timeout awaiting response headers")), ClassTimeout},
		{"deadline", wrapped(context.DeadlineExceeded), ClassTimeout},
		{"cancelled", NewError("x", 0, nil, wrapped(context.Canceled)), ClassCancelled},
		{"malformed answer", NewError("x", 0, nil, errors.New("no choices in the response")), ClassPermanent},
		{"plain error", errors.New("what"), ClassPermanent},
		{"legacy retryable flag", &Error{Retryable: true, Err: errors.New("busy")}, ClassServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Classify(tc.err)
			require.Equal(t, tc.want, got, "%v", tc.err)
			if le, ok := tc.err.(*Error); ok && le.Class != "" {
				require.Equal(t, got.Retryable(), le.Retryable, "NewError keeps Retryable in step")
				require.Equal(t, got == ClassRateLimited, le.RateLimit)
			}
		})
	}
	for c, want := range map[ErrorClass]bool{ClassRateLimited: true, ClassServerError: true, ClassTransport: true, ClassTimeout: true,
		ClassClientError: false, ClassPermanent: false, ClassCancelled: false} {
		require.Equal(t, want, c.Retryable(), c)
	}
	require.Equal(t, "1.5", NewError("x", 429, http.Header{"Retry-After-Ms": {"1500"}}, errors.New("slow")).RetryAfter)
	require.Equal(t, "7", NewError("x", 429, http.Header{"Retry-After": {"7"}, "Retry-After-Ms": {"1500"}}, errors.New("slow")).RetryAfter)
}
