// Package httpx is Pulse's HTTP machinery: the huma API on a chi router,
// the middleware every request passes through, the one error renderer
// (problem+json, RFC 9457), health and metrics endpoints, and the embedded
// API docs. Features register their operations on Router.V1.
package httpx

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pulse-run/pulse/internal/platform/reqmeta"
)

// APIPrefix is where the versioned API lives.
const APIPrefix = "/api/v1"

// RouterParams configures the HTTP stack.
type RouterParams struct {
	Title        string
	Version      string
	Description  string
	Logger       *slog.Logger
	Registry     *prometheus.Registry // HTTP metrics go here and /metrics serves it; nil: no metrics
	MaxBodyBytes int64
	CORSOrigins  []string
	Checks       []Check
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string
	// MetricsElsewhere leaves /metrics off this router: it is served on a
	// separate listener (PULSE_METRICS_ADDR) through MetricsHandler.
	MetricsElsewhere bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For /
	// Forwarded headers name the client (PULSE_TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
	// SchemaNames renames schemas: huma's default name (AgentOut,
	// CreateInputBody) -> the resource's (Agent, AgentCreate).
	SchemaNames map[string]string
	// OpsOnly serves the operational endpoints alone (/healthz, /readyz,
	// /metrics): no API document, no docs, and whatever is registered on
	// V1 is not routed. A worker process serves this.
	OpsOnly bool
}

// Router is the assembled HTTP handler.
type Router struct {
	Handler http.Handler
	API     huma.API // the root: operational endpoints
	V1      *API     // /api/v1: every feature's operations
}

// NewRouter builds the router with all middleware, the spec at
// /openapi.json and /openapi.yaml, the docs at /docs, and health endpoints.
// It fails only when the registry refuses the HTTP metrics (names taken).
func NewRouter(p RouterParams) (*Router, error) {
	installHumaErrors()
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler) // nil logs nothing: the caller injects its logger
	}
	if p.MaxBodyBytes <= 0 {
		p.MaxBodyBytes = 1 << 20
	}

	mux := chi.NewRouter()
	var metrics *httpMetrics
	if p.Registry != nil {
		m, err := newHTTPMetrics(p.Registry)
		if err != nil {
			return nil, err
		}
		metrics = m
	}
	mux.Use(requestID(p.Logger, reqmeta.TrustedProxies(p.TrustedProxies)), accessLog(metrics))
	mux.Use(recoverer, securityHeaders, corsHandler(p.CORSOrigins), bodyLimit(p.MaxBodyBytes))
	mux.NotFound(func(w http.ResponseWriter, r *http.Request) {
		WriteProblem(w, r, http.StatusNotFound, "no such route: "+r.Method+" "+r.URL.Path)
	})
	mux.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		// chi omits Allow when the handler is custom; RFC 9110 requires it.
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if mux.Match(chi.NewRouteContext(), m, r.URL.Path) {
				allowed = append(allowed, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		WriteProblem(w, r, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path)
	})

	cfg := huma.DefaultConfig(p.Title, p.Version)
	cfg.Info.Description = p.Description
	cfg.DocsPath = "" // served by mountDocs with embedded assets
	// Every path in the document is absolute (/api/v1/…): the API is served
	// from the root of whatever origin the document came from.
	cfg.Servers = []*huma.Server{{URL: "/", Description: "this server"}}
	cfg.Components.Schemas = huma.NewMapRegistry("#/components/schemas/", schemaNamer(p.SchemaNames))
	if p.OpsOnly {
		cfg.OpenAPIPath = ""
	}
	// No $schema field or Link header on every response: clients do not need
	// them and they add bytes to each one.
	cfg.CreateHooks = nil
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", BearerFormat: "JWT", Description: "An access token, or an API key (pk_…)"},
		// Lets the docs page's Authorize button sign in with email and password.
		"oauth2": {Type: "oauth2", Flows: &huma.OAuthFlows{Password: &huma.OAuthFlow{TokenURL: APIPrefix + "/auth/token", Scopes: map[string]string{}}}},
	}
	api := humachi.New(mux, cfg)

	v1 := &API{API: huma.NewGroup(api, APIPrefix), maxBody: p.MaxBodyBytes}

	registerHealth(api, p.Logger, p.Checks)
	if p.OpsOnly {
		// A group on a throwaway API: operations registered on it reach
		// no route, so /api/v1/... is the router's 404.
		v1 = &API{API: huma.NewGroup(humachi.New(chi.NewRouter(), huma.DefaultConfig(p.Title, p.Version)), APIPrefix), maxBody: p.MaxBodyBytes}
	} else {
		mountDocs(mux, p.Title, "/openapi.json")
	}
	if p.Registry != nil && !p.MetricsElsewhere {
		mux.Handle("/metrics", MetricsHandler(p.Registry, p.MetricsToken))
	}
	return &Router{Handler: mux, API: api, V1: v1}, nil
}

// MetricsHandler serves the registry in the Prometheus format. With a token,
// a scrape must send it as a bearer token; it is compared in constant time.
func MetricsHandler(reg *prometheus.Registry, token string) http.Handler {
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			WriteProblem(w, r, http.StatusUnauthorized, "a bearer token is required for /metrics")
			return
		}
		h.ServeHTTP(w, r)
	})
}
