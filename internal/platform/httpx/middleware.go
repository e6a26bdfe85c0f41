package httpx

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/cors"

	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/platform/logging"
	"github.com/pulse-run/pulse/internal/platform/reqmeta"
)

// RequestIDHeader carries the request id in and out.
const RequestIDHeader = "X-Request-ID"

// requestID accepts a well-formed incoming X-Request-ID (so a proxy's id
// follows the request through) or makes one, echoes it, and puts it and the
// logger in the context.
func requestID(log *slog.Logger, proxies reqmeta.TrustedProxies) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get(RequestIDHeader)
			if !validRequestID(id) {
				id = ids.New()
			}
			w.Header().Set(RequestIDHeader, id)
			ctx := logging.WithRequestID(r.Context(), id)
			ctx = logging.WithLogger(ctx, log)
			ctx = reqmeta.With(ctx, reqmeta.Client{IP: proxies.ClientIP(r.RemoteAddr, r.Header), UserAgent: r.UserAgent()})
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:", c)
		if !ok {
			return false
		}
	}
	return true
}

// quietPaths are polled by machines; their access lines go to debug.
var quietPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// accessLog writes one line per request after it completes and, with
// metrics, records it there too: one response wrapper and one clock read
// serve both.
func accessLog(m *httpMetrics) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			if m != nil {
				m.inFlight.Inc()
				defer m.inFlight.Dec()
			}
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			next.ServeHTTP(ww, r)
			elapsed := time.Since(start)
			status := ww.Status()
			if status == 0 {
				status = http.StatusOK
			}
			route := routePattern(r)
			if m != nil {
				m.observe(r.Method, route, status, elapsed)
			}
			level := slog.LevelInfo
			switch {
			case status >= 500:
				level = slog.LevelWarn
			case quietPaths[r.URL.Path]:
				level = slog.LevelDebug
			}
			ctx := r.Context()
			log := logging.From(ctx)
			if !log.Enabled(ctx, level) {
				return
			}
			log.LogAttrs(ctx, level, "http request",
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Int("bytes", ww.BytesWritten()),
				slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
				slog.String("client", reqmeta.From(ctx).IP), // behind a trusted proxy: the client it names
				slog.String("remote", r.RemoteAddr),
				slog.String("user_agent", r.UserAgent()),
			)
		})
	}
}

// routePattern is the matched route ("/api/v1/things/{id}"), or "unmatched".
// Using the pattern, not the path, keeps log and metric labels bounded.
func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			return p
		}
	}
	return "unmatched"
}

// recoverer turns a panic into a logged 500 problem, keeping the process up.
func recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
				panic(p)
			}
			logging.From(r.Context()).ErrorContext(r.Context(), "panic serving request",
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if r.Header.Get("Connection") != "Upgrade" {
				WriteProblem(w, r, http.StatusInternalServerError, "")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets conservative defaults for an API. The docs page sets
// its own Content-Security-Policy to allow its scripts.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// bodyLimit rejects a declared oversized body at once and caps any body at
// max bytes, so no handler can be made to read more.
func bodyLimit(max int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > max {
				WriteProblem(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than the %d-byte limit", max))
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, max)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// corsHandler allows the configured browser origins; with none configured
// it adds nothing, so browsers refuse cross-origin calls.
func corsHandler(origins []string) func(http.Handler) http.Handler {
	if len(origins) == 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	wildcard := len(origins) == 1 && origins[0] == "*"
	return cors.Handler(cors.Options{
		AllowedOrigins:   origins,
		AllowedMethods:   []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"},
		AllowedHeaders:   []string{"Authorization", "Content-Type", "Idempotency-Key", RequestIDHeader},
		ExposedHeaders:   []string{RequestIDHeader, "Retry-After", "Location"},
		AllowCredentials: !wildcard,
		MaxAge:           600,
	})
}
