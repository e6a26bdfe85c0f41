package cli_test

import (
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// PULSE_METRICS_ADDR moves /metrics off the public listener onto its own,
// which PULSE_METRICS_TOKEN still guards; both close at shutdown.
func TestFinding13MetricsOnASeparateListener(t *testing.T) {
	t.Parallel()
	const token = "scrape-token-0123456789"
	c := startChild(t, t.TempDir(), map[string]string{"PULSE_METRICS_ADDR": "127.0.0.1:0", "PULSE_METRICS_TOKEN": token},
		"serve", "--addr", "127.0.0.1:0")
	require.NotEqual(t, c.base+"/metrics", c.metrics)
	require.True(t, strings.HasPrefix(c.metrics, "http://127.0.0.1:"), c.metrics)

	status, _ := getStatus(t, c.base+"/metrics")
	require.Equal(t, http.StatusNotFound, status, "not on the public listener")
	status, body := getStatus(t, c.metrics)
	require.Equal(t, http.StatusUnauthorized, status)
	require.NotContains(t, body, "go_goroutines")

	req, err := http.NewRequest(http.MethodGet, c.metrics, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)

	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, c.wait(t), c.log.String())
	_, err = http.Get(c.metrics)
	require.Error(t, err, "the metrics listener is closed too")
}
