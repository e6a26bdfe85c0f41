package queue

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/logging"
)

// MigrationStatus is how far River's own schema is migrated.
type MigrationStatus struct {
	Current int // highest applied River migration version (0: none)
	Latest  int // highest version this binary knows
}

// UpToDate reports whether River's tables are fully migrated.
func (s MigrationStatus) UpToDate() bool { return s.Current >= s.Latest }

// migrator hides River's generic migrator behind the two calls Pulse needs.
type migrator interface {
	up(ctx context.Context) (int, error)
	status(ctx context.Context) (MigrationStatus, error)
}

type riverMigrator[TTx any] struct{ m *rivermigrate.Migrator[TTx] }

func (r riverMigrator[TTx]) up(ctx context.Context) (int, error) {
	res, err := r.m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return 0, err
	}
	return len(res.Versions), nil
}

func (r riverMigrator[TTx]) status(ctx context.Context) (MigrationStatus, error) {
	var s MigrationStatus
	all := r.m.AllVersions()
	if len(all) > 0 {
		s.Latest = all[len(all)-1].Version
	}
	existing, err := r.m.ExistingVersions(ctx)
	if err != nil {
		return s, err
	}
	if len(existing) > 0 {
		s.Current = existing[len(existing)-1].Version
	}
	return s, nil
}

func newMigrator(d *db.DB, log *slog.Logger) (migrator, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler) // nil logs nothing: the caller injects its logger
	}
	cfg := &rivermigrate.Config{Logger: logging.AtLeast(log, slog.LevelWarn), Schema: d.Schema()}
	switch d.Engine {
	case config.SQLite:
		m, err := rivermigrate.New(riversqlite.New(d.W.DB), cfg)
		return riverMigrator[*sql.Tx]{m}, err
	case config.Postgres:
		m, err := rivermigrate.New(riverpgxv5.New(d.PgxPool()), cfg)
		return riverMigrator[pgx.Tx]{m}, err
	}
	return nil, fmt.Errorf("queue: unknown engine %q", d.Engine)
}

// Migrate applies River's migrations and returns how many ran.
func Migrate(ctx context.Context, d *db.DB, log *slog.Logger) (int, error) {
	m, err := newMigrator(d, log)
	if err != nil {
		return 0, err
	}
	n, err := m.up(ctx)
	if err != nil {
		return n, fmt.Errorf("queue: migrate: %w", err)
	}
	return n, nil
}

// Status reports River's migration state.
func Status(ctx context.Context, d *db.DB) (MigrationStatus, error) {
	m, err := newMigrator(d, nil)
	if err != nil {
		return MigrationStatus{}, err
	}
	return m.status(ctx)
}
