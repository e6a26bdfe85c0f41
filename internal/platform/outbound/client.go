package outbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// ClientOptions tune one client. The zero value is sane.
type ClientOptions struct {
	// Timeout bounds a whole call, body included (default 30s). Streaming
	// callers (model providers, MCP) give a longer one.
	Timeout time.Duration
	// DialTimeout bounds each connection attempt (default 10s).
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for an answer's headers
	// (default: Timeout only).
	ResponseHeaderTimeout time.Duration
	// MaxRedirects is how many redirects a call follows (default 5;
	// negative: none).
	MaxRedirects int
	// SensitiveHeaders are more headers to drop when a redirect leaves the
	// original origin, besides Authorization, Cookie and the usual API-key
	// headers.
	SensitiveHeaders []string
}

// sensitiveHeaders never follow a redirect to another origin. Go's client
// drops Authorization and Cookie itself only for headers set on the first
// request and only for a different domain; headers a wrapping
// RoundTripper adds to every request would go anywhere.
var sensitiveHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "Cookie2",
	"X-Api-Key", "Api-Key", "X-Auth-Token", "X-Goog-Api-Key", "X-Pulse-Signature"}

// Client returns an HTTP client whose every connection goes through p: the
// name is resolved here, each address is checked, and the dialler checks
// the address again as it connects. There is no proxy. Redirects are
// limited and re-checked, and lose credentials when they leave the
// original origin. Errors name the host the caller gave, never an address.
func (p *Policy) Client(o ClientOptions) *http.Client {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	if o.MaxRedirects == 0 {
		o.MaxRedirects = 5
	}
	base := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, unchecked
		DialContext:           p.dialContext(o.DialTimeout),
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   10,
		IdleConnTimeout:       90 * time.Second,
	}
	sensitive := append(append([]string{}, sensitiveHeaders...), o.SensitiveHeaders...)
	return &http.Client{
		Transport:     &transport{base: base, sensitive: sensitive},
		Timeout:       o.Timeout,
		CheckRedirect: p.checkRedirect(o.MaxRedirects),
	}
}

// checkRedirect re-validates every hop: scheme, credentials and, for a
// literal address, the address itself (names are checked when dialled).
func (p *Policy) checkRedirect(limit int) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if limit < 0 || len(via) > limit {
			return fmt.Errorf("stopped after %d redirects", max(limit, 0))
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return fmt.Errorf("redirect to a %q URL refused", req.URL.Scheme)
		}
		if req.URL.User != nil {
			return errors.New("redirect to a URL with credentials refused")
		}
		host := req.URL.Hostname()
		if a, ok := literalIP(host); ok {
			if err := p.check(a, false); err != nil {
				return &Error{Host: req.URL.Host, Err: err}
			}
		}
		return nil
	}
}

// dialContext resolves the name itself, so that every address is judged
// with the knowledge of whether its name is allow-listed, then dials each
// admitted address with a Control that checks the socket's real peer.
func (p *Policy) dialContext(timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, portText, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, &Error{Host: addr, Err: err}
		}
		port, err := strconv.ParseUint(portText, 10, 16)
		if err != nil {
			return nil, &Error{Host: addr, Err: fmt.Errorf("bad port %q", portText)}
		}
		allowed := p.hostAllowed(host)
		var addrs []netip.Addr
		if a, ok := literalIP(host); ok {
			addrs = []netip.Addr{a}
		} else if addrs, err = p.resolver.LookupNetIP(ctx, ipNetwork(network), host); err != nil {
			return nil, &Error{Host: addr, Err: err}
		}
		d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second,
			Control: func(_, address string, _ syscall.RawConn) error {
				ap, err := netip.ParseAddrPort(address)
				if err != nil {
					return refusal("unreadable address")
				}
				return p.check(ap.Addr(), allowed)
			}}
		var last error = refusal("no address")
		for _, a := range addrs {
			if err := p.check(a, allowed); err != nil {
				last = err
				continue
			}
			conn, err := d.DialContext(ctx, network, netip.AddrPortFrom(a, uint16(port)).String())
			if err == nil {
				return conn, nil
			}
			last = err
			if ctx.Err() != nil {
				break
			}
		}
		return nil, &Error{Host: addr, Err: last}
	}
}

func ipNetwork(network string) string {
	switch network {
	case "tcp4":
		return "ip4"
	case "tcp6":
		return "ip6"
	}
	return "ip"
}

// transport drops credentials on a cross-origin redirect and hides
// resolved addresses in errors.
type transport struct {
	base      *http.Transport
	sensitive []string
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if first := firstRequest(req); first != req && !sameOrigin(first, req) {
		req = req.Clone(req.Context())
		for _, h := range t.sensitive {
			req.Header.Del(h)
		}
	}
	res, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, hide(req.URL.Host, err)
	}
	res.Body = &body{ReadCloser: res.Body, host: req.URL.Host}
	return res, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// pool.
func (t *transport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// firstRequest follows a redirected request back to the caller's own.
func firstRequest(req *http.Request) *http.Request {
	for req.Response != nil && req.Response.Request != nil {
		req = req.Response.Request
	}
	return req
}

func sameOrigin(a, b *http.Request) bool {
	return a.URL.Scheme == b.URL.Scheme && canonicalHost(a) == canonicalHost(b)
}

func canonicalHost(r *http.Request) string {
	port := r.URL.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[r.URL.Scheme]
	}
	return net.JoinHostPort(normalHost(r.URL.Hostname()), port)
}

// WithHeaders returns a copy of c that sets headers (an MCP server's
// credentials, say) on requests to the original origin only: a redirect to
// another host never receives them.
func WithHeaders(c *http.Client, headers map[string]string) *http.Client {
	cp := *c
	base := c.Transport
	if base == nil {
		base = Public().Client(ClientOptions{}).Transport
	}
	cp.Transport = &headerTransport{base: base, headers: headers}
	return &cp
}

type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
}

func (h *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if first := firstRequest(r); first == r || sameOrigin(first, r) {
		r = r.Clone(r.Context())
		for k, v := range h.headers {
			r.Header.Set(k, v)
		}
	}
	return h.base.RoundTrip(r)
}

func (h *headerTransport) CloseIdleConnections() {
	if c, ok := h.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// body hides addresses in errors met while reading an answer.
type body struct {
	io.ReadCloser
	host string
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = hide(b.host, err)
	}
	return n, err
}
