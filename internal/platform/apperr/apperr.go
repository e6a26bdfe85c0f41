// Package apperr defines the one error type Pulse's services return.
//
// A service says what went wrong with a Code; it never chooses an HTTP status.
// The HTTP layer (internal/platform/httpx) maps codes to statuses in one place,
// so the same rule reads the same way over REST, WebSocket or a CLI.
// Any error that is not an *Error is treated as an unexpected internal failure:
// its text is logged, never shown to the client.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Code classifies an error for callers. The set is deliberately small.
type Code string

const (
	BadRequest       Code = "bad_request" // the request cannot be parsed
	UnsupportedMedia Code = "unsupported_media_type"
	Invalid          Code = "invalid"           // the request fails validation
	Unauthenticated  Code = "unauthenticated"   // no or bad credentials
	PermissionDenied Code = "permission_denied" // authenticated but not allowed
	NotFound         Code = "not_found"         // missing, or another user's object
	Conflict         Code = "conflict"          // violates uniqueness or current state
	TooLarge         Code = "too_large"         // payload exceeds a limit
	RateLimited      Code = "rate_limited"      // too many requests
	Unavailable      Code = "unavailable"       // a dependency is down; retry later
	Internal         Code = "internal"          // a bug or unexpected failure

	// ReplayUnavailable: an Idempotency-Key's first response carried a
	// one-time secret that was not kept, so it cannot be replayed.
	ReplayUnavailable Code = "replay_unavailable"
	// WebhookReplayed: a signed webhook call already accepted once.
	WebhookReplayed Code = "webhook_replayed"
)

// Codes lists every code, so the HTTP layer can prove it maps each one.
var Codes = []Code{BadRequest, UnsupportedMedia, Invalid, Unauthenticated, PermissionDenied, NotFound, Conflict, TooLarge, RateLimited, Unavailable, Internal, ReplayUnavailable, WebhookReplayed}

// FieldError names one invalid input field by its path (e.g. "body.email").
type FieldError struct {
	Path    string
	Message string
}

// Retry tells a rate-limited client when it may try again.
type Retry struct {
	After     time.Duration // until the next attempt may succeed
	Limit     int           // events allowed per window
	Remaining int           // events left now
	Reset     time.Duration // until the allowance is full again
}

// Error is the application error. Message is safe to show to the client;
// Cause is for logs only.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	Retry   *Retry // with RateLimited
	// Extensions are extra machine-readable members for the client, such as
	// the challenge token of an MFA step (RFC 9457 extension members).
	Extensions map[string]any
	Cause      error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s: %s", e.Code, e.Message)
	for _, f := range e.Fields {
		s += fmt.Sprintf("; %s %s", f.Path, f.Message)
	}
	if e.Cause != nil {
		s += fmt.Sprintf(": %v", e.Cause)
	}
	return s
}

func (e *Error) Unwrap() error { return e.Cause }

// New returns an error with a client-safe message.
func New(code Code, message string) *Error { return &Error{Code: code, Message: message} }

// Errorf formats a client-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap attaches a cause that is logged but not shown.
func Wrap(cause error, code Code, message string) *Error {
	return &Error{Code: code, Message: message, Cause: cause}
}

// InvalidField is a validation failure on one named field.
func InvalidField(path, message string) *Error {
	return &Error{Code: Invalid, Message: "validation failed", Fields: []FieldError{{Path: path, Message: message}}}
}

// CodeOf returns the code of the first *Error in err's chain, or Internal.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries the given code.
func Is(err error, code Code) bool { return err != nil && CodeOf(err) == code }

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
