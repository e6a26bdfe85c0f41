package llmtest

import (
	"net/http"
	"net/netip"
	"time"

	"github.com/pulse-run/pulse/internal/platform/outbound"
)

// Client is the HTTP client a provider gets in production (the outbound
// policy), admitting loopback as an operator's PULSE_OUTBOUND_ALLOW would,
// so the fake servers here are reached through the real dialer and its
// errors are the ones providers really see.
func Client() *http.Client {
	p := outbound.New(outbound.Options{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	return p.Client(outbound.ClientOptions{Timeout: 10 * time.Second})
}
