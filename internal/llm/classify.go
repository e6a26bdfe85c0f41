package llm

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
)

// ErrorClass says what kind of failure a provider call ended with, and so
// whether it is worth another try. Classify is the one place that decides.
type ErrorClass string

// Error classes.
const (
	// ClassRateLimited is a 429: the credential is over its limit.
	ClassRateLimited ErrorClass = "rate_limited"
	// ClassServerError is a 5xx (including Anthropic's 529 overloaded).
	ClassServerError ErrorClass = "server_error"
	// ClassTransport is a connection that failed before an answer arrived
	// whole: refused, reset, closed early (EOF), a dial or TLS handshake
	// that timed out.
	ClassTransport ErrorClass = "transport"
	// ClassTimeout is a call that took too long after it was sent: a 408,
	// a response header or client timeout.
	ClassTimeout ErrorClass = "timeout"
	// ClassClientError is a 4xx other than 408 and 429: the request is
	// wrong, or the key is. Another try would fail the same way.
	ClassClientError ErrorClass = "client_error"
	// ClassPermanent is any other failure (a malformed answer, a bad tool
	// schema…), not retried.
	ClassPermanent ErrorClass = "permanent"
	// ClassCancelled is the caller giving up (context canceled); never
	// retried.
	ClassCancelled ErrorClass = "cancelled"
)

// Retryable reports whether a failure of this class may pass on another
// try.
func (c ErrorClass) Retryable() bool {
	switch c {
	case ClassRateLimited, ClassServerError, ClassTransport, ClassTimeout:
		return true
	}
	return false
}

// Classify names the class of a provider call's failure ("" for nil). The
// SDKs wrap what the HTTP client returns (a *url.Error around a
// *net.OpError around a syscall errno), so it looks through the chain.
func Classify(err error) ErrorClass {
	if err == nil {
		return ""
	}
	if errors.Is(err, context.Canceled) {
		return ClassCancelled
	}
	var le *Error
	if errors.As(err, &le) {
		if le.Status != 0 {
			return classOfStatus(le.Status)
		}
		if le.Class != "" {
			return le.Class
		}
	}
	if c := transportClass(err); c != "" {
		return c
	}
	if le != nil && le.Retryable {
		// A provider that marked it retryable without saying why.
		if le.RateLimit {
			return ClassRateLimited
		}
		return ClassServerError
	}
	return ClassPermanent
}

func classOfStatus(status int) ErrorClass {
	switch {
	case status == http.StatusTooManyRequests:
		return ClassRateLimited
	case status == http.StatusRequestTimeout:
		return ClassTimeout
	case status >= 500:
		return ClassServerError
	case status >= 400:
		return ClassClientError
	}
	return ClassPermanent
}

// transportClass recognises connection failures and timeouts, or returns "".
func transportClass(err error) ErrorClass {
	switch {
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH):
		return ClassTransport
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		// The server closed the connection before the answer was whole
		// (a bare EOF is what net/http returns when no byte came back).
		return ClassTransport
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return ClassTransport // refused, unreachable or timed out while connecting
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if strings.Contains(ne.Error(), "TLS handshake timeout") {
			return ClassTransport
		}
		return ClassTimeout
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ClassTimeout
	}
	return ""
}

// NewError builds the Error of a failed call: status is the HTTP status (0
// when none came back), header the response's headers (nil: none), err the
// cause. The class comes from Classify.
func NewError(provider string, status int, header http.Header, err error) *Error {
	e := &Error{Provider: provider, Status: status, Err: err, RetryAfter: retryAfterOf(header)}
	e.Class = Classify(e)
	e.Retryable = e.Class.Retryable()
	e.RateLimit = e.Class == ClassRateLimited
	return e
}

// retryAfterOf reads how long the provider asks to wait: Retry-After
// (seconds or an HTTP date), or retry-after-ms as OpenAI and Anthropic
// also send.
func retryAfterOf(h http.Header) string {
	if h == nil {
		return ""
	}
	if v := h.Get("Retry-After"); v != "" {
		return v
	}
	if ms, err := strconv.ParseFloat(h.Get("Retry-After-Ms"), 64); err == nil && ms >= 0 {
		return strconv.FormatFloat(ms/1000, 'f', -1, 64)
	}
	return ""
}
