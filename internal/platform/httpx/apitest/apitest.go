// Package apitest runs table-driven HTTP scenarios against a real handler:
// method, path, auth, body, then the expected status, JSON values (by gjson
// path), body fragments and headers. It is in the style of PocketBase's
// tests.ApiScenario.
package apitest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// Scenario is one request and what its response must be.
type Scenario struct {
	Name    string
	Method  string
	Path    string
	Auth    string // bearer token; sent as "Authorization: Bearer <Auth>"
	Headers map[string]string
	Body    string

	ExpectedStatus  int
	ExpectedJSON    map[string]any    // gjson path -> value, compared as JSON ("errors.#" is a length)
	ExpectedContent []string          // substrings the body must contain
	NotExpected     []string          // substrings it must not contain
	ExpectedHeaders map[string]string // header -> exact value ("*" = present)
}

// Response is what a scenario observed, for further assertions.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// Run runs each scenario as a subtest against h.
func Run(t *testing.T, h http.Handler, scenarios []Scenario) {
	t.Helper()
	for _, s := range scenarios {
		t.Run(s.Name, func(t *testing.T) { s.Test(t, h) })
	}
}

// Test performs the request and checks every expectation.
func (s Scenario) Test(t testing.TB, h http.Handler) Response {
	t.Helper()
	return s.Check(t, s.Do(h))
}

// Do performs the request without asserting anything, so it may run off the
// test goroutine (where require cannot stop the test); hand its Response back
// to the test goroutine and pass it to Check there.
func (s Scenario) Do(h http.Handler) Response {
	var body io.Reader
	if s.Body != "" {
		body = strings.NewReader(s.Body)
	}
	req := httptest.NewRequest(s.Method, s.Path, body)
	if s.Body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.Auth != "" {
		req.Header.Set("Authorization", "Bearer "+s.Auth)
	}
	for k, v := range s.Headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return Response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
}

// Check asserts every expectation of s on res. Call it on the test goroutine.
//
// A scenario must say which status it expects: one without it would pass on
// any answer, a 500 included. A caller that checks the status itself uses Do.
func (s Scenario) Check(t testing.TB, res Response) Response {
	t.Helper()
	if s.ExpectedStatus == 0 {
		t.Fatalf("apitest: scenario %q (%s %s) has no ExpectedStatus; set the status it must answer, or use Do and check it yourself", s.Name, s.Method, s.Path)
	}
	require.Equal(t, s.ExpectedStatus, res.Status, "status of %s %s; body: %s", s.Method, s.Path, res.Body)
	for path, want := range s.ExpectedJSON {
		got := gjson.Get(res.Body, path)
		require.True(t, got.Exists(), "JSON path %q missing in %s", path, res.Body)
		require.JSONEq(t, toJSON(t, want), got.Raw, "JSON path %q in %s", path, res.Body)
	}
	for _, c := range s.ExpectedContent {
		require.Contains(t, res.Body, c)
	}
	for _, c := range s.NotExpected {
		require.NotContains(t, res.Body, c)
	}
	for k, v := range s.ExpectedHeaders {
		if v == "*" {
			require.NotEmpty(t, res.Header.Get(k), "header %s", k)
			continue
		}
		require.Equal(t, v, res.Header.Get(k), "header %s", k)
	}
	return res
}

func toJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
