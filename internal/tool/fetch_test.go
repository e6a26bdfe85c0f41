package tool

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/outbound"
)

func TestFetchRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "secret") }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	f := NewFetcher(FetchPolicy{Timeout: 2 * time.Second})
	for _, u := range []string{
		srv.URL,                                    // loopback
		"http://localhost:" + port,                 // a name that resolves to loopback
		"http://[::1]:" + port,                     // IPv6 loopback
		"http://[::ffff:127.0.0.1]:" + port,        // IPv4-mapped loopback
		"http://169.254.169.254/latest/meta-data/", // cloud metadata
		"http://10.20.30.40/",                      // private
		"http://192.168.1.1/",                      // private
		"http://[fd00::1]/",                        // unique local
		"http://0.0.0.0:" + port,                   // "this host"
		"http://[::%25lo]:" + port,                 // zoned unspecified
		"http://[::1%25lo]:" + port,                // zoned loopback
		"http://[fe80::1%251]:" + port,             // zoned link-local
		"http://2130706433:" + port,                // decimal loopback
	} {
		_, err := f.Fetch(context.Background(), u)
		require.ErrorContains(t, err, "not public", u)
		if strings.Contains(u, "localhost") {
			require.NotContains(t, err.Error(), "127.0.0.1", "a resolved address is never shown")
			require.NotContains(t, err.Error(), "::1", "a resolved address is never shown")
		}
	}
	for _, u := range []string{"ftp://example.com/", "file:///etc/passwd", "http://user:pw@example.com/", "not a url"} {
		_, err := f.Fetch(context.Background(), u)
		require.Error(t, err, u)
	}
}

// The test server is admitted by policy, so the rest of the behaviour can
// be checked locally; everything private other than it stays refused.
func TestFetchPages(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<html><head><title>T</title><style>.x{}</style></head><body><h1>Week plan</h1><script>steal()</script><p>Study <b>math</b>.</p></body></html>`)
	})
	mux.HandleFunc("/to-metadata", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	mux.HandleFunc("/to-loopback", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.2:9/", http.StatusFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, strings.Repeat("x", 5000)) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) { time.Sleep(2 * time.Second) })
	mux.HandleFunc("/image", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte{0x89, 'P', 'N', 'G'})
	})
	mux.HandleFunc("/gone", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(404) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	f := NewFetcher(FetchPolicy{Timeout: 500 * time.Millisecond, MaxBytes: 4096, Outbound: outbound.New(outbound.Options{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})})
	ctx := context.Background()

	text, err := f.Fetch(ctx, srv.URL+"/page")
	require.NoError(t, err)
	require.Equal(t, "Week plan Study math .", text)
	require.NotContains(t, text, "steal")

	_, err = f.Fetch(ctx, srv.URL+"/to-metadata")
	require.ErrorContains(t, err, "not public", "checked again after a redirect")
	_, err = f.Fetch(ctx, srv.URL+"/to-loopback")
	require.ErrorContains(t, err, "not public")
	_, err = f.Fetch(ctx, srv.URL+"/big")
	require.ErrorContains(t, err, "larger than 4096 bytes")
	_, err = f.Fetch(ctx, srv.URL+"/slow")
	require.Error(t, err, "times out")
	_, err = f.Fetch(ctx, srv.URL+"/image")
	require.ErrorContains(t, err, "unsupported content type")
	_, err = f.Fetch(ctx, srv.URL+"/gone")
	require.ErrorContains(t, err, "404")

	short := NewFetcher(FetchPolicy{MaxChars: 9, Outbound: outbound.New(outbound.Options{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})})
	text, err = short.Fetch(ctx, srv.URL+"/page")
	require.NoError(t, err)
	require.Equal(t, "Week plan\n[truncated]", text)
}
