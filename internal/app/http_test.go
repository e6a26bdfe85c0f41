package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

func get(t *testing.T, h http.Handler, path string) apitest.Response {
	t.Helper()
	return apitest.Scenario{Method: http.MethodGet, Path: path}.Do(h) // callers check the status they expect
}

const problem = "application/problem+json"

// Every error class is problem+json with the right status, a stable code
// and the request id.
func TestErrorResponses(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		apitest.Run(t, b.h, []apitest.Scenario{
			{
				Name: "unknown route", Method: "GET", Path: "/api/v1/no-such-thing",
				ExpectedStatus:  404,
				ExpectedHeaders: map[string]string{"Content-Type": problem},
				ExpectedJSON:    map[string]any{"status": 404, "code": "not_found", "title": "Not Found", "instance": "/api/v1/no-such-thing"},
				ExpectedContent: []string{`"request_id":"`},
			},
			{
				Name: "wrong method", Method: "DELETE", Path: "/api/v1/meta",
				ExpectedStatus:  405,
				ExpectedHeaders: map[string]string{"Content-Type": problem, "Allow": "GET"},
				ExpectedJSON:    map[string]any{"status": 405, "code": "method_not_allowed"},
			},
			{
				Name: "malformed JSON", Method: "POST", Path: "/api/v1/test/echo", Body: `{"name": "x", "count": `,
				ExpectedStatus:  400,
				ExpectedHeaders: map[string]string{"Content-Type": problem},
				ExpectedJSON:    map[string]any{"status": 400, "code": "bad_request"},
			},
			{
				Name: "validation failure names each field", Method: "POST", Path: "/api/v1/test/echo",
				Body:            `{"name": "", "count": 0, "tags": ["a","b","c","d"]}`,
				ExpectedStatus:  422,
				ExpectedHeaders: map[string]string{"Content-Type": problem},
				ExpectedJSON:    map[string]any{"status": 422, "code": "invalid", "errors.#": 3},
				ExpectedContent: []string{`"location":"body.name"`, `"location":"body.count"`, `"location":"body.tags"`},
			},
			{
				Name: "validation does not echo the submitted value", Method: "POST", Path: "/api/v1/test/echo",
				Body:           `{"name": "a-secret-password-that-is-too-long", "count": 1}`,
				ExpectedStatus: 422,
				NotExpected:    []string{"a-secret-password"},
			},
			{
				Name: "unknown field is rejected", Method: "POST", Path: "/api/v1/test/echo",
				Body:            `{"name": "x", "count": 1, "extra": true}`,
				ExpectedStatus:  422,
				ExpectedContent: []string{`"location":"body.extra"`},
			},
			{
				Name: "oversized body by Content-Length", Method: "POST", Path: "/api/v1/test/echo",
				Body:            `{"name": "x", "count": 1, "pad": "` + strings.Repeat("x", 5000) + `"}`,
				ExpectedStatus:  413,
				ExpectedHeaders: map[string]string{"Content-Type": problem},
				ExpectedJSON:    map[string]any{"status": 413, "code": "too_large"},
			},
			{
				Name: "unsupported media type", Method: "POST", Path: "/api/v1/test/echo",
				Headers:         map[string]string{"Content-Type": "text/plain"},
				Body:            `name=x`,
				ExpectedStatus:  415,
				ExpectedHeaders: map[string]string{"Content-Type": problem},
				ExpectedJSON:    map[string]any{"status": 415, "code": "unsupported_media_type"},
			},
			{
				Name: "valid request", Method: "POST", Path: "/api/v1/test/echo", Body: `{"name": "ok", "count": 2}`,
				ExpectedStatus:  200,
				ExpectedHeaders: map[string]string{"Content-Type": "application/json"},
				ExpectedJSON:    map[string]any{"name": "ok", "count": 2},
			},
			{
				Name: "service not found", Method: "GET", Path: "/api/v1/test/fail?kind=notfound",
				ExpectedStatus: 404,
				ExpectedJSON:   map[string]any{"code": "not_found", "detail": "thing not found"},
			},
			{
				Name: "service conflict", Method: "GET", Path: "/api/v1/test/fail?kind=conflict",
				ExpectedStatus: 409,
				ExpectedJSON:   map[string]any{"code": "conflict", "detail": "thing already exists"},
			},
			{
				Name: "service field validation", Method: "GET", Path: "/api/v1/test/fail?kind=invalid",
				ExpectedStatus: 422,
				ExpectedJSON:   map[string]any{"code": "invalid", "errors.0.location": "body.email", "errors.0.message": "is already taken"},
			},
			{
				Name: "unexpected error is a generic 500", Method: "GET", Path: "/api/v1/test/fail?kind=boom",
				ExpectedStatus:  500,
				ExpectedHeaders: map[string]string{"Content-Type": problem},
				ExpectedJSON:    map[string]any{"code": "internal"},
				NotExpected:     []string{"hunter2", "password"},
			},
			{
				Name: "panic is a generic 500", Method: "GET", Path: "/api/v1/test/fail?kind=panic",
				ExpectedStatus:  500,
				ExpectedHeaders: map[string]string{"Content-Type": problem},
				ExpectedJSON:    map[string]any{"code": "internal"},
				NotExpected:     []string{"deliberate"},
			},
		})
		// The causes hidden from clients are in the log, with the request id.
		require.Contains(t, b.logs.String(), "hunter2")
		require.Contains(t, b.logs.String(), "deliberate test panic")
	})
}

// A body without Content-Length (chunked) is cut off at the limit too.
func TestChunkedOversizedBody(t *testing.T) {
	t.Parallel()
	b := setup(t, config.SQLite, nil)
	srv := httptest.NewServer(b.h)
	defer srv.Close()
	body := io.MultiReader(strings.NewReader(`{"name":"x","count":1,"pad":"`), strings.NewReader(strings.Repeat("x", 10000)), strings.NewReader(`"}`))
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/test/echo", body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = -1 // unknown: sent chunked, with no Content-Length
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
	require.Equal(t, problem, res.Header.Get("Content-Type"))
}

// The configured limit replaces huma's 1 MiB default in both directions.
func TestConfiguredBodyLimitAboveHumaDefault(t *testing.T) {
	t.Parallel()
	b := setup(t, config.SQLite, map[string]string{"PULSE_MAX_BODY_BYTES": "3000000"})
	body := `{"name":"x","count":1,"pad":"` + strings.Repeat("x", 1_500_000) + `"}`
	apitest.Run(t, b.h, []apitest.Scenario{
		{
			Name: "1.5 MB is read and validated", Method: "POST", Path: "/api/v1/test/echo", Body: body,
			ExpectedStatus: 422, ExpectedContent: []string{`"location":"body.pad"`},
		},
		{
			Name: "3.5 MB is too large", Method: "POST", Path: "/api/v1/test/echo", Body: body + strings.Repeat(" ", 2_000_000),
			ExpectedStatus: 413,
		},
	})
}

func TestRequestIDAndHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t, config.SQLite, nil)
	apitest.Run(t, b.h, []apitest.Scenario{
		{
			Name: "incoming id is echoed and used in errors", Method: "GET", Path: "/nope",
			Headers:         map[string]string{"X-Request-ID": "edge-proxy-42"},
			ExpectedStatus:  404,
			ExpectedHeaders: map[string]string{"X-Request-ID": "edge-proxy-42"},
			ExpectedJSON:    map[string]any{"request_id": "edge-proxy-42"},
		},
		{
			Name: "malformed incoming id is replaced", Method: "GET", Path: "/healthz",
			Headers:        map[string]string{"X-Request-ID": "bad id\twith spaces"},
			ExpectedStatus: 200,
			ExpectedJSON:   map[string]any{"status": "ok"},
		},
		{
			Name: "security headers", Method: "GET", Path: "/api/v1/meta",
			ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "no-referrer",
				"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
				"X-Request-ID":            "*",
			},
			ExpectedJSON: map[string]any{"name": "pulse"},
		},
		{
			Name: "CORS preflight from an allowed origin", Method: "OPTIONS", Path: "/api/v1/meta", ExpectedStatus: 200,
			Headers: map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"},
			ExpectedHeaders: map[string]string{
				"Access-Control-Allow-Origin":      "https://app.example.com",
				"Access-Control-Allow-Credentials": "true",
			},
		},
		{
			Name: "CORS from another origin gets no grant", Method: "GET", Path: "/api/v1/meta",
			Headers:         map[string]string{"Origin": "https://evil.example.net"},
			ExpectedStatus:  200,
			ExpectedHeaders: map[string]string{"Access-Control-Allow-Origin": ""},
		},
	})
	res := apitest.Scenario{ExpectedStatus: 200, Method: "GET", Path: "/healthz", Headers: map[string]string{"X-Request-ID": "bad id"}}.Test(t, b.h)
	require.NotEqual(t, "bad id", res.Header.Get("X-Request-ID"))
	require.Len(t, res.Header.Get("X-Request-ID"), 36)

	// Every log line written while serving a request names it.
	apitest.Scenario{Method: "GET", Path: "/api/v1/test/fail?kind=boom", Headers: map[string]string{"X-Request-ID": "trace-me-7"}, ExpectedStatus: 500}.Test(t, b.h)
	var lines int
	for _, l := range strings.Split(b.logs.String(), "\n") {
		if strings.Contains(l, "hunter2") || strings.Contains(l, `"path":"/api/v1/test/fail"`) {
			if strings.Contains(l, "trace-me") || strings.Contains(l, "kind=boom") {
				require.Contains(t, l, `"request_id":"trace-me-7"`, l)
				lines++
			}
		}
	}
	require.GreaterOrEqual(t, lines, 2, "error line and access line: %s", b.logs.String())
}

func TestOpenAPIAndDocs(t *testing.T) {
	t.Parallel()
	b := setup(t, config.SQLite, nil)

	res := get(t, b.h, "/openapi.json")
	require.Equal(t, 200, res.Status)
	var spec struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.Body), &spec))
	require.Equal(t, "3.1.0", spec.OpenAPI)
	require.Contains(t, spec.Paths, "/api/v1/meta")
	require.Contains(t, spec.Paths, "/readyz")

	res = get(t, b.h, "/openapi.yaml")
	require.Equal(t, 200, res.Status)
	require.Contains(t, res.Body, "openapi: 3.1.0")

	res = get(t, b.h, "/docs")
	require.Equal(t, 200, res.Status)
	require.Contains(t, res.Header.Get("Content-Type"), "text/html")
	require.Contains(t, res.Header.Get("Content-Security-Policy"), "script-src 'self'")
	// Offline: every script and stylesheet is served by Pulse itself.
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(res.Body, -1)
	require.Len(t, refs, 4)
	for _, m := range refs {
		require.True(t, strings.HasPrefix(m[1], "/docs/assets/"), "external reference %q", m[1])
		asset := get(t, b.h, m[1])
		require.Equal(t, 200, asset.Status, m[1])
		require.NotEmpty(t, asset.Body)
	}
	require.Contains(t, res.Body, `data-spec-url="/openapi.json"`)
	init := get(t, b.h, "/docs/assets/init.js")
	require.Contains(t, init.Body, "validatorUrl: null", "no call to the online validator")
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		require.NoError(t, b.app.StartQueue(context.Background()))
		get(t, b.h, "/api/v1/meta")
		get(t, b.h, "/api/v1/no/such/route/123")
		res := get(t, b.h, "/metrics")
		require.Equal(t, 200, res.Status)
		for _, want := range []string{
			`pulse_http_requests_total{method="GET",route="/api/v1/meta",status="200"} 1`,
			`pulse_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
			`pulse_http_request_duration_seconds_bucket{method="GET",route="/api/v1/meta",status="200",le="+Inf"} 1`,
			"go_goroutines ",
			"process_resident_memory_bytes ",
			"pulse_db_connections_open{pool=",
			"pulse_db_connections_max{pool=",
		} {
			require.Contains(t, res.Body, want)
		}
		// The maintenance job and the durable core's reaper run at queue start; their
		// completion is counted from queue events and their rows by state at
		// scrape time.
		require.Eventually(t, func() bool {
			body := get(t, b.h, "/metrics").Body
			return strings.Contains(body, `pulse_queue_jobs_finished_total{kind="pulse.maintenance",outcome="completed"} 1`) &&
				strings.Contains(body, `pulse_queue_jobs_finished_total{kind="durable_reaper",outcome="completed"}`) &&
				regexp.MustCompile(`pulse_queue_jobs\{state="completed"\} [1-9]`).MatchString(body)
		}, 20*time.Second, 100*time.Millisecond)
		require.NotContains(t, res.Body, "/api/v1/no/such/route/123", "raw paths never become labels")
	})
}

// PULSE_METRICS_TOKEN: a scrape without the bearer token, or with another,
// is a 401 problem that shows no metric.
func TestFinding13MetricsToken(t *testing.T) {
	t.Parallel()
	const token = "scrape-token-0123456789"
	b := setup(t, config.SQLite, map[string]string{"PULSE_METRICS_TOKEN": token})
	apitest.Run(t, b.h, []apitest.Scenario{
		{Name: "no token", Method: "GET", Path: "/metrics", ExpectedStatus: 401,
			ExpectedHeaders: map[string]string{"Content-Type": problem, "WWW-Authenticate": `Bearer realm="metrics"`},
			NotExpected:     []string{"go_goroutines"}},
		{Name: "wrong token", Method: "GET", Path: "/metrics", Auth: token + "x", ExpectedStatus: 401, NotExpected: []string{"go_goroutines"}},
		{Name: "token as a query", Method: "GET", Path: "/metrics?token=" + token, ExpectedStatus: 401},
		{Name: "right token", Method: "GET", Path: "/metrics", Auth: token, ExpectedStatus: 200, ExpectedContent: []string{"go_goroutines "}},
	})
}
