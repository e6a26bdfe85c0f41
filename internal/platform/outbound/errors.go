package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"regexp"
	"syscall"
)

// Error is a failed call to host (as the caller gave it, with its port).
// Its message names the host and the kind of failure, never an address
// the name resolved to: "dial tcp 10.0.0.5:80: …" would map the inside
// for whoever reads a tool's or node's error. Unwrap keeps the cause, so
// errors.Is(err, ErrRefused), syscall.ECONNRESET or io.EOF still work.
type Error struct {
	Host string
	Err  error
}

func (e *Error) Error() string { return "connecting to " + e.Host + ": " + describe(e.Err) }

// Unwrap gives the cause for errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// Timeout reports a timed-out call, as net.Error does.
func (e *Error) Timeout() bool {
	var ne net.Error
	return errors.Is(e.Err, context.DeadlineExceeded) || (errors.As(e.Err, &ne) && ne.Timeout())
}

// Temporary is false, as for the net errors it stands for.
func (e *Error) Temporary() bool { return false }

var _ net.Error = (*Error)(nil)

// hide wraps err from a call to host unless it is already an *Error.
func hide(host string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	// A bare context error carries no address; anything wrapping one
	// (a net.OpError "dial tcp 10.0.0.5:80: operation was canceled") may.
	if err == context.Canceled || err == context.DeadlineExceeded {
		return err
	}
	return &Error{Host: host, Err: err}
}

// describe names the kind of failure in words that carry no address.
func describe(err error) string {
	var dns *net.DNSError
	var hostErr x509.HostnameError
	var authErr x509.UnknownAuthorityError
	var certErr x509.CertificateInvalidError
	var recErr tls.RecordHeaderError
	switch {
	case errors.Is(err, ErrRefused):
		return reasonText(err)
	case errors.As(err, &dns):
		switch {
		case dns.IsNotFound:
			return "no such host"
		case dns.IsTimeout:
			return "DNS lookup timed out"
		}
		return "DNS lookup failed"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return "timed out"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed early (unexpected EOF)"
	case errors.Is(err, io.EOF):
		return "connection closed early (EOF)"
	case errors.As(err, &hostErr), errors.As(err, &authErr), errors.As(err, &certErr):
		return "TLS certificate not valid for this host"
	case errors.As(err, &recErr):
		return "TLS handshake failed (is it an https server?)"
	}
	return scrub(err.Error())
}

func reasonText(err error) string {
	if r := reasonOf(err); r != "" && r != err.Error() {
		return ErrRefused.Error() + " (" + r + ")"
	}
	return ErrRefused.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// addrPattern finds IPv4 and IPv6 literals (with a port or zone) in text
// we did not classify.
var addrPattern = regexp.MustCompile(`\[?[0-9a-fA-F]*:[0-9a-fA-F:.]*:[0-9a-fA-F:.]*(%[^\]\s]+)?\]?(:\d+)?|\d{1,3}(\.\d{1,3}){3}(:\d+)?`)

// scrub removes addresses from an error text we have no words for.
func scrub(s string) string { return addrPattern.ReplaceAllString(s, "[address]") }
