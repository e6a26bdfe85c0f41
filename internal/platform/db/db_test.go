package db_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
)

func TestMigrations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		d := dbtest.OpenEmpty(t, e)

		s, err := d.MigrationStatus(ctx)
		require.NoError(t, err)
		require.Empty(t, s.Applied)
		require.NotEmpty(t, s.Pending)
		require.False(t, s.Current())
		all := s.Pending

		applied, err := d.MigrateUp(ctx)
		require.NoError(t, err)
		require.Equal(t, all, applied)
		s, err = d.MigrationStatus(ctx)
		require.NoError(t, err)
		require.True(t, s.Current())
		require.Equal(t, all, s.Applied)

		applied, err = d.MigrateUp(ctx)
		require.NoError(t, err)
		require.Empty(t, applied, "nothing left to apply")

		// The schema really exists, and down really removes it.
		_, err = d.W.NewRaw("SELECT count(*) FROM pulse_kv").Exec(ctx)
		require.NoError(t, err)
		rolled, err := d.MigrateDown(ctx)
		require.NoError(t, err)
		require.ElementsMatch(t, all, rolled)
		_, err = d.W.NewRaw("SELECT count(*) FROM pulse_kv").Exec(ctx)
		require.Error(t, err)
		s, err = d.MigrationStatus(ctx)
		require.NoError(t, err)
		require.Equal(t, all, s.Pending)

		_, err = d.MigrateUp(ctx)
		require.NoError(t, err)
	})
}

func TestSchemaNewerThanBinaryIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		require.NoError(t, d.CheckSchema(ctx))
		_, err := d.W.NewRaw("INSERT INTO pulse_migrations (name, group_id, migrated_at) VALUES ('29990101000000', 42, ?)", time.Now().UTC()).Exec(ctx)
		require.NoError(t, err)

		err = d.CheckSchema(ctx)
		require.True(t, db.IsSchemaTooNew(err), "got %v", err)
		s, err := d.MigrationStatus(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"29990101000000"}, s.Unknown)

		_, err = d.MigrateUp(ctx)
		require.True(t, db.IsSchemaTooNew(err), "migrate up must not touch a newer schema: %v", err)
		_, err = d.MigrateDown(ctx)
		require.True(t, db.IsSchemaTooNew(err), "nor migrate down: %v", err)
	})
}

// Processes starting together on one PostgreSQL database must not both apply
// the same migration.
func TestConcurrentMigrateUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		if e != config.Postgres {
			t.Skip("an embedded SQLite database has one process")
		}
		schema := dbtest.NewSchema(t)
		var wg sync.WaitGroup
		results := make([][]string, 3)
		errs := make([]error, 3)
		for i := range results {
			d, err := db.Open(ctx, db.Options{Engine: e, PostgresURL: os.Getenv(dbtest.EnvPostgres), Schema: schema, MaxConns: 3})
			require.NoError(t, err)
			t.Cleanup(func() { d.Close() })
			wg.Go(func() { results[i], errs[i] = d.MigrateUp(ctx) })
		}
		wg.Wait()
		var total int
		for i := range results {
			require.NoError(t, errs[i])
			total += len(results[i])
		}
		d, err := db.Open(ctx, db.Options{Engine: e, PostgresURL: os.Getenv(dbtest.EnvPostgres), Schema: schema})
		require.NoError(t, err)
		defer d.Close()
		s, err := d.MigrationStatus(ctx)
		require.NoError(t, err)
		require.Equal(t, len(s.Applied), total, "each migration applied exactly once")
		require.True(t, s.Current())
	})
}

func TestSQLiteSetup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "pulse.db")
	d, err := db.Open(ctx, db.Options{Engine: config.SQLite, SQLitePath: path})
	require.NoError(t, err)
	defer d.Close()

	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the database file is private")

	var mode string
	require.NoError(t, d.W.NewRaw("PRAGMA journal_mode").Scan(ctx, &mode))
	require.Equal(t, "wal", mode)
	var fk, busy int
	require.NoError(t, d.W.NewRaw("PRAGMA foreign_keys").Scan(ctx, &fk))
	require.Equal(t, 1, fk)
	require.NoError(t, d.R.NewRaw("PRAGMA foreign_keys").Scan(ctx, &fk))
	require.Equal(t, 1, fk)
	require.NoError(t, d.W.NewRaw("PRAGMA busy_timeout").Scan(ctx, &busy))
	require.Equal(t, 10000, busy)

	require.Equal(t, 1, d.W.DB.Stats().MaxOpenConnections, "one writer connection")
	require.Greater(t, d.R.DB.Stats().MaxOpenConnections, 1)

	_, err = d.W.NewRaw("CREATE TABLE t (x INTEGER)").Exec(ctx)
	require.NoError(t, err)
	_, err = d.R.NewRaw("INSERT INTO t VALUES (1)").Exec(ctx)
	require.Error(t, err, "the read pool cannot write")
}

func TestInTxRollsBackOnError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		insert := func(ctx context.Context, tx *db.Tx, key string) error {
			_, err := tx.NewRaw("INSERT INTO pulse_kv (namespace, key, value, created_at) VALUES ('tx', ?, ?, ?)", key, []byte("v"), time.Now().UTC()).Exec(ctx)
			return err
		}
		require.NoError(t, d.InTx(ctx, func(ctx context.Context, tx *db.Tx) error { return insert(ctx, tx, "a") }))
		// A unique violation fails the transaction; its earlier write is undone.
		err := d.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			if err := insert(ctx, tx, "b"); err != nil {
				return err
			}
			return insert(ctx, tx, "a")
		})
		require.True(t, db.IsUniqueViolation(err), "got %v", err)
		n, err := d.R.NewSelect().Table("pulse_kv").Where("namespace = 'tx'").Count(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
	})
}
