package app_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pulse-run/pulse/internal/platform/config"
)

// BenchmarkRequest measures one request through the whole middleware stack
// (request id, access log, metrics, recovery, headers, CORS, body limit,
// huma) with the handler doing nothing else.
func BenchmarkRequest(b *testing.B) {
	bundle := setup(b, config.SQLite, map[string]string{"PULSE_LOG_LEVEL": "info"})
	bundle.logs.discard = true
	for _, c := range []struct{ name, method, path, body string }{
		{"GET meta", http.MethodGet, "/api/v1/meta", ""},
		{"POST validated JSON", http.MethodPost, "/api/v1/test/echo", `{"name":"bench","count":3,"tags":["a","b"]}`},
		{"404 problem", http.MethodGet, "/api/v1/nope", ""},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var req *http.Request
				if c.body != "" {
					req = httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
					req.Header.Set("Content-Type", "application/json")
				} else {
					req = httptest.NewRequest(c.method, c.path, nil)
				}
				rec := httptest.NewRecorder()
				bundle.h.ServeHTTP(rec, req)
				if rec.Code >= 500 {
					b.Fatal(rec.Body.String())
				}
			}
		})
	}
}
