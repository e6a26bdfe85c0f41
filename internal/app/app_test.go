package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/auth"
	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx"
	"github.com/pulse-run/pulse/internal/platform/logging"
)

// syncBuffer collects log output from concurrent goroutines. Benchmarks set
// discard: the lines are still formatted, as for a real log, but not kept.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	discard bool
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.discard {
		return len(p), nil
	}
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type testBundle struct {
	app  *app.App
	h    http.Handler
	cfg  *config.Config
	logs *syncBuffer
}

// testConfig loads a real configuration from a test environment: a private
// data dir, an isolated database, a small body limit and one CORS origin.
func testConfig(t testing.TB, e config.Engine, env map[string]string) *config.Config {
	t.Helper()
	vars := map[string]string{
		"PULSE_DATA_DIR":       t.TempDir(),
		"DATABASE_URL":         dbtest.DatabaseURL(t, e),
		"PULSE_SECRET_KEY":     "test-secret-key-0123456789abcdef0123",
		"PULSE_MAX_BODY_BYTES": "4096",
		"PULSE_CORS_ORIGINS":   "https://app.example.com",
		"PULSE_DB_MAX_CONNS":   "4",
		"PULSE_LOG_LEVEL":      "debug",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Register(nil).Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	require.NoError(t, err)
	return cfg
}

func setup(t testing.TB, e config.Engine, env map[string]string) *testBundle {
	t.Helper()
	cfg := testConfig(t, e, env)
	logs := &syncBuffer{}
	a, err := app.New(context.Background(), cfg, logging.New(logs, cfg.LogLevel, "json"), app.Options{Routes: testRoutes, HashParams: &cheapHash})
	require.NoError(t, err)
	t.Cleanup(a.Close)
	require.NoError(t, a.Start(context.Background()))
	return &testBundle{app: a, h: a.Handler(), cfg: cfg, logs: logs}
}

// cheapHash keeps password hashing fast in tests; production uses the
// OWASP parameters (checked in the auth package).
var cheapHash = auth.HashParams{MemoryKiB: 64, Time: 1, Threads: 1}

type echoInput struct {
	Body struct {
		Name  string   `json:"name" minLength:"1" maxLength:"20"`
		Count int      `json:"count" minimum:"1"`
		Tags  []string `json:"tags,omitempty" maxItems:"3"`
	}
}

type echoOutput struct {
	Body struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
}

type failInput struct {
	Kind string `query:"kind"`
}

// testRoutes exercise the error paths of the real stack: validation, service
// errors of each code, an unexpected error and a panic.
func testRoutes(api *httpx.API) {
	httpx.Register(api, huma.Operation{OperationID: "test-echo", Method: http.MethodPost, Path: "/test/echo"},
		func(_ context.Context, in *echoInput) (*echoOutput, error) {
			out := &echoOutput{}
			out.Body.Name, out.Body.Count = in.Body.Name, in.Body.Count
			return out, nil
		})
	httpx.Register(api, huma.Operation{OperationID: "test-fail", Method: http.MethodGet, Path: "/test/fail"},
		func(_ context.Context, in *failInput) (*struct{}, error) {
			switch in.Kind {
			case "notfound":
				return nil, apperr.New(apperr.NotFound, "thing not found")
			case "conflict":
				return nil, apperr.New(apperr.Conflict, "thing already exists")
			case "invalid":
				return nil, apperr.InvalidField("body.email", "is already taken")
			case "panic":
				panic("deliberate test panic")
			default:
				return nil, errors.New("database password is hunter2")
			}
		})
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		// Built but not started: the queue is not running yet.
		res := get(t, b.h, "/readyz")
		require.Equal(t, http.StatusServiceUnavailable, res.Status, res.Body)
		require.JSONEq(t, `{"status":"unavailable","checks":{"database":"ok","migrations":"ok","queue":"not running"}}`, res.Body)

		require.NoError(t, b.app.StartQueue(context.Background()))
		res = get(t, b.h, "/readyz")
		require.Equal(t, http.StatusOK, res.Status, res.Body)
		require.JSONEq(t, `{"status":"ready","checks":{"database":"ok","migrations":"ok","queue":"ok"}}`, res.Body)
	})
}

func TestPendingMigrations(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		// Automatic migration off and a fresh database: refuse to start.
		cfg := testConfig(t, e, map[string]string{"PULSE_AUTO_MIGRATE": "false"})
		_, err := app.New(context.Background(), cfg, logging.New(&syncBuffer{}, "info", "json"), app.Options{})
		require.ErrorContains(t, err, "migrations pending and automatic migration is off: run pulse migrate up")

		// A running server whose schema is rolled back reports it.
		b := setup(t, e, nil)
		require.NoError(t, b.app.StartQueue(context.Background()))
		_, err = b.app.DB().MigrateDown(context.Background())
		require.NoError(t, err)
		res := get(t, b.h, "/readyz")
		require.Equal(t, http.StatusServiceUnavailable, res.Status)
		require.Regexp(t, `"migrations":"[0-9]+ migrations pending: run pulse migrate up"`, res.Body)
	})
}

func TestRefusesSchemaNewerThanBinary(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		ctx := context.Background()
		cfg := testConfig(t, e, nil)
		a, err := app.New(ctx, cfg, logging.New(&syncBuffer{}, "info", "json"), app.Options{})
		require.NoError(t, err)
		_, err = a.DB().W.NewRaw("INSERT INTO pulse_migrations (name, group_id, migrated_at) VALUES ('29991231000000', 99, ?)", time.Now().UTC()).Exec(ctx)
		require.NoError(t, err)
		a.Close()

		_, err = app.New(ctx, cfg, logging.New(&syncBuffer{}, "info", "json"), app.Options{})
		require.Error(t, err)
		require.Contains(t, err.Error(), "database schema is newer than this binary")
		require.Contains(t, err.Error(), "29991231000000")
	})
}

func TestGeneratesSecretKeyOnceForEmbeddedInstall(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, config.SQLite, map[string]string{"PULSE_SECRET_KEY": ""})
	require.Empty(t, cfg.SecretKey)
	logs := &syncBuffer{}
	a, err := app.New(context.Background(), cfg, logging.New(logs, "info", "json"), app.Options{})
	require.NoError(t, err)
	a.Close()
	require.Len(t, cfg.SecretKey, 43)
	require.Contains(t, logs.String(), "generated a secret key")

	again := testConfig(t, config.SQLite, map[string]string{"PULSE_SECRET_KEY": "", "PULSE_DATA_DIR": cfg.DataDir})
	a, err = app.New(context.Background(), again, logging.New(&syncBuffer{}, "info", "json"), app.Options{})
	require.NoError(t, err)
	a.Close()
	require.Equal(t, cfg.SecretKey, again.SecretKey, "the second start reuses the key")
}

func TestReadinessChecksRedisWhenConfigured(t *testing.T) {
	t.Parallel()
	url := os.Getenv("PULSE_TEST_REDIS_URL")
	if url == "" {
		t.Skip("PULSE_TEST_REDIS_URL is not set")
	}
	b := setup(t, config.SQLite, map[string]string{"REDIS_URL": url})
	require.NoError(t, b.app.StartQueue(context.Background()))
	res := get(t, b.h, "/readyz")
	require.Equal(t, http.StatusOK, res.Status, res.Body)
	require.Contains(t, res.Body, `"redis":"ok"`)

	// Nothing listens on port 1: readiness fails and says why.
	down := setup(t, config.SQLite, map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0"})
	require.NoError(t, down.app.StartQueue(context.Background()))
	res = get(t, down.h, "/readyz")
	require.Equal(t, http.StatusServiceUnavailable, res.Status)
	require.Contains(t, res.Body, `"redis":"unreachable"`)
	require.NotContains(t, res.Body, "127.0.0.1", "no driver error text (addresses, hosts) on the public probe")
	require.NotContains(t, res.Body, "dial tcp")
}

// A database that fails reads as unreachable on /readyz; the driver's text
// (which names hosts and users) goes only to the log.
func TestFinding13ReadinessHidesDriverErrors(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		logs := &syncBuffer{}
		cfg := testConfig(t, e, nil)
		a, err := app.New(context.Background(), cfg, logging.New(logs, "info", "json"), app.Options{})
		require.NoError(t, err)
		t.Cleanup(a.Close)
		require.NoError(t, a.DB().Close()) // every query now fails with the driver's own error
		res := get(t, a.Handler(), "/readyz")
		require.Equal(t, http.StatusServiceUnavailable, res.Status, res.Body)
		var body struct {
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}
		require.NoError(t, json.Unmarshal([]byte(res.Body), &body))
		require.Equal(t, "unavailable", body.Status)
		require.Equal(t, "unreachable", body.Checks["database"])
		require.Equal(t, "failing", body.Checks["migrations"])
		require.NotContains(t, res.Body, "sql:")
		require.NotContains(t, res.Body, "closed")
		require.Contains(t, logs.String(), `"msg":"readiness check failed"`)
		require.Contains(t, logs.String(), `"check":"database"`)
	})
}
