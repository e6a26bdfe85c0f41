package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/logging"
)

func TestRequestIDInEveryLine(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := logging.New(&buf, "info", "json").With("component", "test")
	ctx := logging.WithRequestID(context.Background(), "req-1")
	log.InfoContext(ctx, "with id")
	log.InfoContext(context.Background(), "without id")
	log.DebugContext(ctx, "below level")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 2)
	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &rec))
	require.Equal(t, "req-1", rec["request_id"])
	require.Equal(t, "test", rec["component"], "attributes added with With survive")
	require.NotContains(t, lines[1], "request_id")
}

func TestTextFormatAndLevels(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := logging.New(&buf, "warn", "text")
	log.Info("quiet")
	log.Warn("loud")
	require.NotContains(t, buf.String(), "quiet")
	require.Contains(t, buf.String(), "level=WARN msg=loud")
}

func TestAtLeastAndFrom(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := logging.New(&buf, "debug", "json")
	quiet := logging.AtLeast(log, slog.LevelWarn)
	quiet.Info("dropped")
	quiet.Error("kept")
	require.NotContains(t, buf.String(), "dropped")
	require.Contains(t, buf.String(), "kept")

	ctx := logging.WithLogger(context.Background(), quiet)
	require.Same(t, quiet, logging.From(ctx))
	// Without one, nothing is logged: no process-wide default is used.
	fallback := logging.From(context.Background())
	require.NotSame(t, slog.Default(), fallback)
	require.False(t, fallback.Enabled(context.Background(), slog.LevelError))
}
