package tool

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
)

// fakeSearch is one provider's API: it records each request and answers
// with a canned body in that provider's real format.
type fakeSearch struct {
	mu     sync.Mutex
	reqs   []*http.Request
	bodies []string
	status int
	answer string
	srv    *httptest.Server
}

func startSearch(t *testing.T, status int, answer string) *fakeSearch {
	f := &fakeSearch{status: status, answer: answer}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, r)
		f.bodies = append(f.bodies, string(b))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		_, _ = io.WriteString(w, f.answer)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func TestSearchProvidersWireFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		provider string
		answer   string
		check    func(t *testing.T, r *http.Request, body string)
	}{
		{SearchTavily,
			`{"query":"go generics","answer":null,"images":[],"results":[{"title":"Generics in Go","url":"https://go.dev/doc/tutorial/generics","content":"This tutorial introduces the basics of generics in Go.","score":0.98,"raw_content":null},{"title":"Second","url":"https://example.com/2","content":"More.","score":0.5}],"response_time":1.2}`,
			func(t *testing.T, r *http.Request, body string) {
				require.Equal(t, http.MethodPost, r.Method)
				require.Equal(t, "/search", r.URL.Path)
				require.Equal(t, "Bearer tvly-secret", r.Header.Get("Authorization"))
				require.Equal(t, "go generics", gjson.Get(body, "query").String())
				require.Equal(t, int64(2), gjson.Get(body, "max_results").Int())
			}},
		{SearchBrave,
			`{"type":"search","query":{"original":"go generics"},"web":{"type":"search","results":[{"title":"Generics in <strong>Go</strong>","url":"https://go.dev/doc/tutorial/generics","description":"This tutorial introduces the basics of <strong>generics</strong> in Go.","language":"en"},{"title":"Second","url":"https://example.com/2","description":"More."}]}}`,
			func(t *testing.T, r *http.Request, _ string) {
				require.Equal(t, http.MethodGet, r.Method)
				require.Equal(t, "/res/v1/web/search", r.URL.Path)
				require.Equal(t, "go generics", r.URL.Query().Get("q"))
				require.Equal(t, "2", r.URL.Query().Get("count"))
				require.Equal(t, "brave-secret", r.Header.Get("X-Subscription-Token"))
			}},
		{SearchSearXNG,
			`{"query":"go generics","number_of_results":0,"results":[{"url":"https://go.dev/doc/tutorial/generics","title":"Generics in Go","content":"This tutorial introduces the basics of generics in Go.","engine":"duckduckgo","engines":["duckduckgo"],"score":1.0},{"url":"https://example.com/2","title":"Second","content":"More."},{"url":"https://example.com/3","title":"Third","content":"Cut."}],"answers":[],"suggestions":[]}`,
			func(t *testing.T, r *http.Request, _ string) {
				require.Equal(t, http.MethodGet, r.Method)
				require.Equal(t, "/search", r.URL.Path)
				require.Equal(t, "go generics", r.URL.Query().Get("q"))
				require.Equal(t, "json", r.URL.Query().Get("format"))
			}},
	}
	for _, tt := range tests {
		t.Run(tt.provider, func(t *testing.T) {
			t.Parallel()
			f := startSearch(t, 200, tt.answer)
			key := map[string]string{SearchTavily: "tvly-secret", SearchBrave: "brave-secret"}[tt.provider]
			s, err := NewSearcher(SearchConfig{Provider: tt.provider, APIKey: key, BaseURL: f.srv.URL, Client: f.srv.Client()})
			require.NoError(t, err)
			out, err := SearchFunc(s)(context.Background(), json.RawMessage(`{"query":"go generics","max_results":2}`))
			require.NoError(t, err)
			require.Len(t, f.reqs, 1)
			tt.check(t, f.reqs[0], f.bodies[0])
			// Every provider comes back in one shape, markup removed, capped
			// at max_results.
			require.Equal(t, "go generics", gjson.Get(out, "query").String())
			require.Equal(t, int64(2), gjson.Get(out, "results.#").Int())
			require.Equal(t, "Generics in Go", gjson.Get(out, "results.0.title").String())
			require.Equal(t, "https://go.dev/doc/tutorial/generics", gjson.Get(out, "results.0.url").String())
			require.Equal(t, "This tutorial introduces the basics of generics in Go.", gjson.Get(out, "results.0.snippet").String())
		})
	}
}

func TestSearchFailuresAreExplained(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		status int
		answer string
		want   string
	}{
		{429, `{"detail":{"error":"rate limit"}}`, "rate limited"},
		{401, `{"detail":{"error":"Unauthorized: missing or invalid API key."}}`, "refused the platform's key"},
		{502, `bad gateway`, "HTTP 502"},
		{200, `<html>not json</html>`, "unreadable"},
	} {
		f := startSearch(t, tt.status, tt.answer)
		s, err := NewSearcher(SearchConfig{Provider: SearchTavily, APIKey: "tvly-secret", BaseURL: f.srv.URL, Client: f.srv.Client()})
		require.NoError(t, err)
		_, err = SearchFunc(s)(context.Background(), json.RawMessage(`{"query":"x"}`))
		require.ErrorContains(t, err, tt.want)
		require.NotContains(t, err.Error(), "tvly-secret", "the key never reaches the model")
	}

	// Unreachable: the model is told so, without the URL's internals.
	f := startSearch(t, 200, `{}`)
	f.srv.Close()
	s, err := NewSearcher(SearchConfig{Provider: SearchSearXNG, BaseURL: f.srv.URL})
	require.NoError(t, err)
	_, err = s.Search(context.Background(), "x", 3)
	require.ErrorContains(t, err, "unreachable")

	_, err = SearchFunc(s)(context.Background(), json.RawMessage(`{"query":"   "}`))
	require.ErrorContains(t, err, "empty")
}

func TestSearcherConfiguration(t *testing.T) {
	t.Parallel()
	_, err := NewSearcher(SearchConfig{Provider: SearchTavily})
	require.ErrorContains(t, err, "API key")
	_, err = NewSearcher(SearchConfig{Provider: SearchSearXNG})
	require.ErrorContains(t, err, "URL")
	_, err = NewSearcher(SearchConfig{Provider: "bing", APIKey: "k"})
	require.ErrorContains(t, err, "unknown")
	s, err := NewSearcher(SearchConfig{Provider: SearchBrave, APIKey: "k"})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(s.base, "https://api.search.brave.com"))

	// The tool is offered only where it works.
	require.False(t, Catalog{}.IsBuiltin("web_search"))
	require.True(t, Catalog{Search: s}.IsBuiltin("web_search"))
	_, ok := (&Runtime{}).Executor("web_search")
	require.False(t, ok)
	_, ok = (&Runtime{Search: s}).Executor("web_search")
	require.True(t, ok)
}
