package db

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun/migrate"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/migrations"
)

const (
	migrationsTable = "pulse_migrations"
	locksTable      = "pulse_migration_locks"
	// advisoryLockKey serialises migrations between processes on PostgreSQL.
	advisoryLockKey = 7_380_113_447
)

// SchemaTooNewError means the database has migrations this binary does not
// know: it was migrated by a newer Pulse, and running older code on it could
// corrupt data.
type SchemaTooNewError struct{ Unknown []string }

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("database schema is newer than this binary (unknown migrations: %s); run a newer pulse", strings.Join(e.Unknown, ", "))
}

// MigrationStatus compares the binary's migrations with the database's.
type MigrationStatus struct {
	Applied []string // known and applied, in order
	Pending []string // known, not yet applied, in order
	Unknown []string // applied by a newer binary
}

// Current reports whether nothing is pending and nothing is unknown.
func (s MigrationStatus) Current() bool { return len(s.Pending) == 0 && len(s.Unknown) == 0 }

func (d *DB) migrationsFS() fs.FS {
	if d.Engine == config.Postgres {
		return migrations.Postgres()
	}
	return migrations.SQLite()
}

func (d *DB) loadMigrations() (*migrate.Migrations, error) {
	ms := migrate.NewMigrations()
	if err := ms.Discover(d.migrationsFS()); err != nil {
		return nil, fmt.Errorf("db: load migrations: %w", err)
	}
	return ms, nil
}

func (d *DB) migrator() (*migrate.Migrator, error) {
	ms, err := d.loadMigrations()
	if err != nil {
		return nil, err
	}
	return migrate.NewMigrator(d.W, ms,
		migrate.WithTableName(migrationsTable),
		migrate.WithLocksTableName(locksTable),
		migrate.WithMarkAppliedOnSuccess(true),
	), nil
}

// knownMigrations lists the binary's migration names (timestamp_name) in order.
func (d *DB) knownMigrations() ([]string, error) {
	ms, err := d.loadMigrations()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, mg := range ms.Sorted() {
		names = append(names, mg.Name)
	}
	return names, nil
}

// MigrationStatus reads which migrations are applied. It only reads, so it is
// cheap enough for a readiness probe.
func (d *DB) MigrationStatus(ctx context.Context) (MigrationStatus, error) {
	known, err := d.knownMigrations()
	if err != nil {
		return MigrationStatus{}, err
	}
	var applied []string
	err = d.R.NewSelect().Table(migrationsTable).Column("name").Order("id").Scan(ctx, &applied)
	if err != nil && !isMissingTable(err) {
		return MigrationStatus{}, fmt.Errorf("db: read applied migrations: %w", err)
	}
	var s MigrationStatus
	for _, name := range known {
		if slices.Contains(applied, name) {
			s.Applied = append(s.Applied, name)
		} else {
			s.Pending = append(s.Pending, name)
		}
	}
	for _, name := range applied {
		if !slices.Contains(known, name) {
			s.Unknown = append(s.Unknown, name)
		}
	}
	return s, nil
}

// CheckSchema returns *SchemaTooNewError when the database is ahead of the binary.
func (d *DB) CheckSchema(ctx context.Context) error {
	s, err := d.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	if len(s.Unknown) > 0 {
		return &SchemaTooNewError{Unknown: s.Unknown}
	}
	return nil
}

// MigrateUp applies every pending migration and returns their names. It
// refuses to touch a database whose schema is newer than the binary.
func (d *DB) MigrateUp(ctx context.Context) ([]string, error) {
	return d.migrate(ctx, "up", func(m *migrate.Migrator) (*migrate.MigrationGroup, error) { return m.Migrate(ctx) })
}

// MigrateDown rolls back the most recently applied group of migrations.
func (d *DB) MigrateDown(ctx context.Context) ([]string, error) {
	return d.migrate(ctx, "down", func(m *migrate.Migrator) (*migrate.MigrationGroup, error) { return m.Rollback(ctx) })
}

// migrate runs one bun migrator step under the lock, after checking that the
// schema is not ahead of the binary, and names the migrations it touched.
func (d *DB) migrate(ctx context.Context, dir string, step func(*migrate.Migrator) (*migrate.MigrationGroup, error)) ([]string, error) {
	var done []string
	err := d.withMigrationLock(ctx, func(m *migrate.Migrator) error {
		if err := d.CheckSchema(ctx); err != nil {
			return err
		}
		g, err := step(m)
		if g != nil {
			for _, mg := range g.Migrations {
				done = append(done, mg.Name)
			}
		}
		return err
	})
	if err != nil {
		return done, fmt.Errorf("db: migrate %s: %w", dir, err)
	}
	return done, nil
}

// withMigrationLock runs fn while holding a lock that other processes
// migrating the same database wait on. bun's own lock table is not used:
// a process that dies holding it would block every later start. On
// PostgreSQL a session advisory lock is released by the server if we die;
// SQLite's writer connection already admits one writer per process, and an
// embedded database has one process.
func (d *DB) withMigrationLock(ctx context.Context, fn func(*migrate.Migrator) error) error {
	m, err := d.migrator()
	if err != nil {
		return err
	}
	if d.Engine == config.Postgres {
		conn, err := d.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", advisoryLockKey); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", advisoryLockKey) //nolint:errcheck
	}
	if err := m.Init(ctx); err != nil {
		return fmt.Errorf("create migration tables: %w", err)
	}
	return fn(m)
}

func isMissingTable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "42P01" // undefined_table
	}
	// SQLite reports it as a generic SQLITE_ERROR; only the text tells.
	return strings.Contains(err.Error(), "no such table")
}

// IsSchemaTooNew reports whether err is a *SchemaTooNewError.
func IsSchemaTooNew(err error) bool {
	var e *SchemaTooNewError
	return errors.As(err, &e)
}
