package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/html"

	"github.com/pulse-run/pulse/internal/platform/outbound"
)

// Search providers the web_search tool can use.
const (
	SearchTavily  = "tavily"
	SearchBrave   = "brave"
	SearchSearXNG = "searxng"
)

// Default endpoints of the hosted search APIs.
const (
	TavilyURL = "https://api.tavily.com"
	BraveURL  = "https://api.search.brave.com"
)

// SearchConfig chooses and reaches one search API.
type SearchConfig struct {
	Provider string       // tavily, brave or searxng
	APIKey   string       // tavily and brave
	BaseURL  string       // empty: the provider's public API; required for searxng
	Client   *http.Client // nil: the public-only outbound client
}

// Searcher answers web_search calls through one provider's JSON API.
type Searcher struct {
	provider string
	key      string
	base     string
	client   *http.Client
}

// SearchResult is one hit, the same shape whatever the provider.
type SearchResult struct {
	Title   string `json:"title"`
	URL     string `json:"url"`
	Snippet string `json:"snippet"`
}

// Limits of one search.
const (
	defaultSearchResults = 5
	maxSearchResults     = 10
	maxSearchBody        = 2 << 20
	maxSnippetChars      = 600
)

// NewSearcher checks the configuration and returns a searcher.
func NewSearcher(c SearchConfig) (*Searcher, error) {
	s := &Searcher{provider: c.Provider, key: c.APIKey, base: strings.TrimSuffix(c.BaseURL, "/"), client: c.Client}
	if s.client == nil {
		s.client = outbound.Public().Client(outbound.ClientOptions{Timeout: 20 * time.Second})
	}
	switch c.Provider {
	case SearchTavily, SearchBrave:
		if c.APIKey == "" {
			return nil, fmt.Errorf("web search with %s needs an API key", c.Provider)
		}
		if s.base == "" {
			s.base = map[string]string{SearchTavily: TavilyURL, SearchBrave: BraveURL}[c.Provider]
		}
	case SearchSearXNG:
		if s.base == "" {
			return nil, errors.New("web search with searxng needs the instance's URL")
		}
	default:
		return nil, fmt.Errorf("unknown web search provider %q (want tavily, brave or searxng)", c.Provider)
	}
	return s, nil
}

// Provider names the API in use.
func (s *Searcher) Provider() string { return s.provider }

// Search returns up to max results for query.
func (s *Searcher) Search(ctx context.Context, query string, max int) ([]SearchResult, error) {
	if max <= 0 {
		max = defaultSearchResults
	}
	max = min(max, maxSearchResults)
	req, err := s.request(ctx, query, max)
	if err != nil {
		return nil, err
	}
	res, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%s search is unreachable", s.provider)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxSearchBody+1))
	if err != nil {
		return nil, fmt.Errorf("%s search: reading the answer: %w", s.provider, err)
	}
	if len(body) > maxSearchBody {
		return nil, fmt.Errorf("%s search answered more than %d bytes", s.provider, maxSearchBody)
	}
	switch {
	case res.StatusCode == http.StatusTooManyRequests:
		return nil, fmt.Errorf("%s search is rate limited; try again later", s.provider)
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%s search refused the platform's key (HTTP %d)", s.provider, res.StatusCode)
	case res.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s search failed with HTTP %d", s.provider, res.StatusCode)
	}
	out, err := s.parse(body)
	if err != nil {
		return nil, fmt.Errorf("%s search answered something unreadable: %w", s.provider, err)
	}
	if len(out) > max {
		out = out[:max]
	}
	for i := range out {
		out[i].Snippet = truncate(plain(out[i].Snippet), maxSnippetChars)
		out[i].Title = plain(out[i].Title)
	}
	return out, nil
}

func (s *Searcher) request(ctx context.Context, query string, max int) (*http.Request, error) {
	switch s.provider {
	case SearchTavily:
		// https://docs.tavily.com/documentation/api-reference/endpoint/search
		body, _ := json.Marshal(map[string]any{"query": query, "max_results": max, "search_depth": "basic"})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/search", strings.NewReader(string(body)))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+s.key)
		return req, nil
	case SearchBrave:
		// https://api-dashboard.search.brave.com/app/documentation/web-search/get-started
		q := url.Values{"q": {query}, "count": {strconv.Itoa(max)}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/res/v1/web/search?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("X-Subscription-Token", s.key)
		return req, nil
	default:
		// https://docs.searxng.org/dev/search_api.html (format=json must be enabled on the instance)
		q := url.Values{"q": {query}, "format": {"json"}}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/search?"+q.Encode(), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		return req, nil
	}
}

func (s *Searcher) parse(body []byte) ([]SearchResult, error) {
	type hit struct {
		Title       string `json:"title"`
		URL         string `json:"url"`
		Content     string `json:"content"`
		Description string `json:"description"`
	}
	var doc struct {
		Results []hit `json:"results"` // tavily, searxng
		Web     struct {
			Results []hit `json:"results"`
		} `json:"web"` // brave
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	hits := doc.Results
	if s.provider == SearchBrave {
		hits = doc.Web.Results
	}
	out := make([]SearchResult, 0, len(hits))
	for _, h := range hits {
		if h.URL == "" {
			continue
		}
		snippet := h.Content
		if snippet == "" {
			snippet = h.Description
		}
		out = append(out, SearchResult{Title: h.Title, URL: h.URL, Snippet: snippet})
	}
	return out, nil
}

// plain drops the markup some providers put in snippets (Brave highlights
// matches with <strong>).
func plain(s string) string {
	if !strings.ContainsAny(s, "<&") {
		return strings.TrimSpace(s)
	}
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return strings.TrimSpace(b.String())
		case html.TextToken:
			b.Write(z.Text())
		}
	}
}

// SearchFunc is the web_search tool.
func SearchFunc(s *Searcher) Func {
	return func(ctx context.Context, args json.RawMessage) (string, error) {
		var in struct {
			Query      string `json:"query"`
			MaxResults int    `json:"max_results"`
		}
		if err := json.Unmarshal(args, &in); err != nil {
			return "", err
		}
		if strings.TrimSpace(in.Query) == "" {
			return "", errors.New("query is empty")
		}
		results, err := s.Search(ctx, in.Query, in.MaxResults)
		if err != nil {
			return "", err
		}
		b, err := json.Marshal(map[string]any{"query": in.Query, "results": results})
		return string(b), err
	}
}
