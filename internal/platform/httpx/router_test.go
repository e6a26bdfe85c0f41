package httpx_test

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/httpx"
)

// A registry that already holds the HTTP metrics is refused with an
// error, not a panic: building the app returns it.
func TestNewRouterReportsTakenMetricNames(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	_, err := httpx.NewRouter(httpx.RouterParams{Logger: slog.New(slog.DiscardHandler), Registry: reg})
	require.NoError(t, err)
	_, err = httpx.NewRouter(httpx.RouterParams{Logger: slog.New(slog.DiscardHandler), Registry: reg})
	require.ErrorContains(t, err, "http metrics")
}
