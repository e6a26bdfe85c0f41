package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/pulse-run/pulse/internal/platform/httpx"
)

// metricsServer is the separate /metrics listener of PULSE_METRICS_ADDR,
// so scrapes can be kept on an internal interface while the API faces the
// world. Without a separate address (srv nil) it does nothing.
type metricsServer struct {
	srv *http.Server
	ln  net.Listener
}

// listenMetrics binds PULSE_METRICS_ADDR before anything starts, so a taken
// port fails the start instead of leaving the process up without metrics.
func (a *App) listenMetrics() (*metricsServer, error) {
	if a.cfg.MetricsAddr == "" {
		return &metricsServer{}, nil
	}
	ln, err := net.Listen("tcp", a.cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (PULSE_METRICS_ADDR): %w", a.cfg.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", httpx.MetricsHandler(a.registry, a.cfg.MetricsToken))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: a.cfg.ReadHeaderTimeout, ReadTimeout: a.cfg.ReadTimeout,
		WriteTimeout: a.cfg.WriteTimeout, IdleTimeout: a.cfg.IdleTimeout,
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
	return &metricsServer{srv: srv, ln: ln}, nil
}

// serve starts serving; an unexpected stop is reported on errs, like the
// main listener's.
func (m *metricsServer) serve(errs chan<- error) {
	if m.srv == nil {
		return
	}
	go func() {
		if err := m.srv.Serve(m.ln); !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("metrics listener: %w", err)
		}
	}()
}

// url is where /metrics is served.
func (m *metricsServer) url(base string) string {
	if m.srv == nil {
		return base + "/metrics"
	}
	return "http://" + m.ln.Addr().String() + "/metrics"
}

func (m *metricsServer) shutdown(ctx context.Context) {
	if m.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := m.srv.Shutdown(ctx); err != nil {
		_ = m.srv.Close()
	}
}

func (m *metricsServer) close() {
	if m.ln != nil {
		_ = m.ln.Close()
	}
}
