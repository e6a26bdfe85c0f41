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
	"github.com/pulse-run/pulse/internal/platform/lifecycle"
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

// component serves until stopped; an unexpected stop is reported on
// failed, like the main listener's.
func (m *metricsServer) component(failed chan<- error) lifecycle.Component {
	if m.srv == nil {
		return lifecycle.Funcs{}
	}
	served := make(chan struct{})
	return lifecycle.Funcs{
		OnStart: func(context.Context) error {
			go func() {
				defer close(served)
				if err := m.srv.Serve(m.ln); !errors.Is(err, http.ErrServerClosed) {
					failed <- fmt.Errorf("metrics listener: %w", err)
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			stop, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if err := m.srv.Shutdown(stop); err != nil {
				_ = m.srv.Close()
			}
			return lifecycle.Wait(ctx, served)
		},
	}
}

// url is where /metrics is served.
func (m *metricsServer) url(base string) string {
	if m.srv == nil {
		return base + "/metrics"
	}
	return "http://" + m.ln.Addr().String() + "/metrics"
}

// close releases the listener of a server that never started.
func (m *metricsServer) close() {
	if m.ln != nil {
		_ = m.ln.Close()
	}
}
