// Package dbtest runs tests against every database engine Pulse supports.
//
// SQLite always runs, in a fresh temporary directory. PostgreSQL runs when
// PULSE_TEST_POSTGRES_URL is set; each test then gets its own schema, dropped
// when the test ends, so tests may run in parallel against one server.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db"
)

// EnvPostgres names the variable holding the PostgreSQL test server's URL.
const EnvPostgres = "PULSE_TEST_POSTGRES_URL"

// Engines lists the engines available to this test run.
func Engines() []config.Engine {
	if os.Getenv(EnvPostgres) != "" {
		return []config.Engine{config.SQLite, config.Postgres}
	}
	return []config.Engine{config.SQLite}
}

// Each runs fn as a parallel subtest once per engine, with a freshly opened
// and migrated database.
func Each(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	t.Helper()
	for _, e := range Engines() {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			fn(t, Open(t, e))
		})
	}
}

// EachEngine runs fn as a parallel subtest once per engine, without opening a
// database, for tests that build their own (the app, the CLI).
func EachEngine(t *testing.T, fn func(t *testing.T, e config.Engine)) {
	t.Helper()
	for _, e := range Engines() {
		t.Run(string(e), func(t *testing.T) {
			t.Parallel()
			fn(t, e)
		})
	}
}

// Open returns a migrated database on engine e, closed when the test ends.
func Open(t testing.TB, e config.Engine) *db.DB {
	t.Helper()
	d := OpenEmpty(t, e)
	_, err := d.MigrateUp(context.Background())
	require.NoError(t, err)
	return d
}

// OpenEmpty returns a database with no migrations applied.
func OpenEmpty(t testing.TB, e config.Engine) *db.DB {
	t.Helper()
	ctx := context.Background()
	opts := db.Options{Engine: e}
	switch e {
	case config.SQLite:
		opts.SQLitePath = filepath.Join(t.TempDir(), "pulse.db")
	case config.Postgres:
		opts.PostgresURL = postgresURL(t)
		opts.Schema = NewSchema(t)
		opts.MaxConns = 4
	}
	d, err := db.Open(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// DatabaseURL returns a DATABASE_URL for engine e that is isolated to this
// test: "" for SQLite (the caller gives a temporary data dir), or the test
// server's URL with search_path set to a fresh schema.
func DatabaseURL(t testing.TB, e config.Engine) string {
	t.Helper()
	if e == config.SQLite {
		return ""
	}
	u, err := url.Parse(postgresURL(t))
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", NewSchema(t))
	u.RawQuery = q.Encode()
	return u.String()
}

func postgresURL(t testing.TB) string {
	u := os.Getenv(EnvPostgres)
	if u == "" {
		t.Skipf("%s is not set", EnvPostgres)
	}
	return u
}

var (
	adminOnce sync.Once
	admin     *pgxpool.Pool
	adminErr  error
)

// NewSchema creates a uniquely named schema on the PostgreSQL test server
// and drops it, with everything in it, when the test ends.
func NewSchema(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	adminOnce.Do(func() {
		admin, adminErr = pgxpool.New(ctx, postgresURL(t))
	})
	require.NoError(t, adminErr)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	_, err := admin.Exec(ctx, "CREATE SCHEMA "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, err := admin.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE")
		if err != nil {
			t.Logf("drop schema %s: %v", name, err)
		}
	})
	return name
}
