package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/html"
)

// Fetcher gets public web pages for the web_fetch tool. It refuses to
// reach private, loopback, link-local and cloud-metadata addresses: the
// check runs on the address actually being dialled, for every connection,
// so redirects and DNS answers cannot lead it inside. A refused address is
// never contacted.
type Fetcher struct {
	client   *http.Client
	maxBytes int64
	maxChars int
}

// FetchPolicy tunes the fetcher. Allow, when set, admits extra prefixes
// (tests use it for their local server); everything else follows Blocked.
type FetchPolicy struct {
	Timeout  time.Duration
	MaxBytes int64
	MaxChars int
	Allow    []netip.Prefix
}

// blocked are the ranges a fetch must never reach.
var blocked = mustPrefixes(
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
	"192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
	"::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "64:ff9b::/96",
)

func mustPrefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// ErrBlockedAddress is a refused destination.
var ErrBlockedAddress = errors.New("address is not public")

// PublicDialer dials only public addresses (plus allow): the check runs on
// the address being connected to, so no hostname, redirect or DNS answer
// can lead it to a private one, and a refused address gets no packet.
func PublicDialer(timeout time.Duration, allow []netip.Prefix) *net.Dialer {
	allowed := func(ip netip.Addr) bool {
		ip = ip.Unmap()
		for _, a := range allow {
			if a.Contains(ip) {
				return true
			}
		}
		for _, b := range blocked {
			if b.Contains(ip) {
				return false
			}
		}
		return ip.IsGlobalUnicast()
	}
	return &net.Dialer{Timeout: timeout, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !allowed(ap.Addr()) {
			return fmt.Errorf("%w: %s", ErrBlockedAddress, address)
		}
		return nil
	}}
}

// NewFetcher returns a fetcher with the policy's limits.
func NewFetcher(p FetchPolicy) *Fetcher {
	if p.Timeout <= 0 {
		p.Timeout = 10 * time.Second
	}
	if p.MaxBytes <= 0 {
		p.MaxBytes = 2 << 20
	}
	if p.MaxChars <= 0 {
		p.MaxChars = 20_000
	}
	dialer := PublicDialer(p.Timeout, p.Allow)
	transport := &http.Transport{DialContext: dialer.DialContext, Proxy: nil, TLSHandshakeTimeout: p.Timeout,
		ResponseHeaderTimeout: p.Timeout, MaxIdleConns: 10, IdleConnTimeout: 30 * time.Second}
	client := &http.Client{Transport: transport, Timeout: p.Timeout, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return fmt.Errorf("redirect to a %s URL refused", req.URL.Scheme)
		}
		return nil
	}}
	return &Fetcher{client: client, maxBytes: p.MaxBytes, maxChars: p.MaxChars}
}

// Fetch returns the readable text of a page.
func (f *Fetcher) Fetch(ctx context.Context, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("give an http(s) URL")
	}
	if u.User != nil {
		return "", errors.New("URLs with credentials are refused")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("User-Agent", "PulseBot/1.0 (+web_fetch)")
	req.Header.Set("Accept", "text/html, text/plain, application/json;q=0.9, */*;q=0.1")
	res, err := f.client.Do(req)
	if err != nil {
		if errors.Is(err, ErrBlockedAddress) {
			return "", fmt.Errorf("refused: the URL leads to an %v", ErrBlockedAddress)
		}
		return "", fmt.Errorf("fetch failed: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 400 {
		return "", fmt.Errorf("the server answered %d", res.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, f.maxBytes+1))
	if err != nil {
		return "", fmt.Errorf("reading the page: %v", err)
	}
	if int64(len(body)) > f.maxBytes {
		return "", fmt.Errorf("the page is larger than %d bytes", f.maxBytes)
	}
	mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	var text string
	switch {
	case mt == "text/html" || mt == "application/xhtml+xml":
		text = readable(string(body))
	case strings.HasPrefix(mt, "text/") || mt == "application/json":
		text = string(body)
	default:
		return "", fmt.Errorf("unsupported content type %q", mt)
	}
	if r := []rune(text); len(r) > f.maxChars {
		text = string(r[:f.maxChars]) + "\n[truncated]"
	}
	return text, nil
}

// readable extracts the visible text of an HTML page.
func readable(doc string) string {
	z := html.NewTokenizer(strings.NewReader(doc))
	var b strings.Builder
	skip := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return strings.Join(strings.Fields(b.String()), " ")
		case html.StartTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style", "noscript", "template", "svg", "head":
				skip++
			case "p", "br", "div", "li", "h1", "h2", "h3", "h4", "tr":
				b.WriteString("\n")
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "script", "style", "noscript", "template", "svg", "head":
				if skip > 0 {
					skip--
				}
			}
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
				b.WriteString(" ")
			}
		}
	}
}

// FetchFunc is the web_fetch tool on f.
func FetchFunc(f *Fetcher) Func {
	return func(ctx context.Context, args json.RawMessage) (string, error) {
		var in struct {
			URL string `json:"url"`
		}
		if err := json.Unmarshal(args, &in); err != nil {
			return "", err
		}
		return f.Fetch(ctx, in.URL)
	}
}
