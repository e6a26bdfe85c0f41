package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/html"

	"github.com/pulse-run/pulse/internal/platform/outbound"
)

// Fetcher gets public web pages for the web_fetch tool. Its client is the
// outbound policy's: the check runs on the address actually being dialled,
// for every connection, so redirects and DNS answers cannot lead it inside.
// A refused address is never contacted.
type Fetcher struct {
	client   *http.Client
	maxBytes int64
	maxChars int
}

// FetchPolicy tunes the fetcher. Outbound decides which addresses it may
// reach (nil: public ones only); tests allow their local server through it
// as an operator would, with PULSE_OUTBOUND_ALLOW.
type FetchPolicy struct {
	Timeout  time.Duration
	MaxBytes int64
	MaxChars int
	Outbound *outbound.Policy
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
	if p.Outbound == nil {
		p.Outbound = outbound.Public()
	}
	client := p.Outbound.Client(outbound.ClientOptions{Timeout: p.Timeout, ResponseHeaderTimeout: p.Timeout, MaxRedirects: 5})
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
		if errors.Is(err, outbound.ErrRefused) {
			return "", fmt.Errorf("refused: the URL leads to an address that is not public (%s)", u.Host)
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
