// Package db opens Pulse's database, embedded SQLite or PostgreSQL, behind one
// bun model, applies the embedded migrations, and provides the transaction
// helper that lets feature writes and job inserts commit together.
//
// SQLite allows one writer at a time, so the SQLite DB has two pools: W, a
// single connection used for every write (and by the job queue), and R, a
// read-only pool for queries that need not see the caller's own uncommitted
// writes. On PostgreSQL both are the same pool.
package db

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/pulse-run/pulse/internal/platform/config"
)

// Options selects and tunes the engine.
type Options struct {
	Engine      config.Engine
	SQLitePath  string // SQLite: the database file; its directory is created
	PostgresURL string // PostgreSQL: connection URL
	MaxConns    int    // PostgreSQL pool size (default 10)
	// Schema, on PostgreSQL, puts every table of Pulse and the queue in this
	// schema (via search_path). Tests use it to isolate themselves; empty
	// means the server's default search_path.
	Schema string
}

// DB is an open database.
type DB struct {
	Engine config.Engine
	// W is for writes and for reads that must see them; on SQLite it holds
	// exactly one connection.
	W *bun.DB
	// R is for reads; on SQLite a read-only pool, on PostgreSQL the same as W.
	R *bun.DB

	schema string
	pool   *pgxpool.Pool // PostgreSQL only
}

// Open connects and verifies the connection.
func Open(ctx context.Context, o Options) (*DB, error) {
	switch o.Engine {
	case config.SQLite:
		return openSQLite(ctx, o)
	case config.Postgres:
		return openPostgres(ctx, o)
	default:
		return nil, fmt.Errorf("db: unknown engine %q", o.Engine)
	}
}

func sqliteDSN(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// BEGIN IMMEDIATE takes the write lock up front, so a transaction
		// never fails half-way when upgrading from a read lock.
		q.Set("_txlock", "immediate")
	}
	return path + "?" + q.Encode()
}

func openSQLite(ctx context.Context, o Options) (*DB, error) {
	if o.SQLitePath == "" {
		return nil, errors.New("db: SQLite path is empty")
	}
	if err := os.MkdirAll(filepath.Dir(o.SQLitePath), 0o700); err != nil {
		return nil, fmt.Errorf("db: create data dir: %w", err)
	}
	// Create the file ourselves so it is private: it will hold credentials.
	// SQLite gives its -wal and -shm files the same mode.
	f, err := os.OpenFile(o.SQLitePath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("db: create %s: %w", o.SQLitePath, err)
	}
	f.Close()
	w, err := sql.Open("sqlite", sqliteDSN(o.SQLitePath, false))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The writer must exist first: it creates the file and switches it to WAL.
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("db: open sqlite %s: %w", o.SQLitePath, err)
	}
	r, err := sql.Open("sqlite", sqliteDSN(o.SQLitePath, true))
	if err != nil {
		w.Close()
		return nil, err
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	return &DB{
		Engine: config.SQLite,
		W:      bun.NewDB(w, sqlitedialect.New()),
		R:      bun.NewDB(r, sqlitedialect.New()),
	}, nil
}

func openPostgres(ctx context.Context, o Options) (*DB, error) {
	pc, err := pgxpool.ParseConfig(o.PostgresURL)
	if err != nil {
		return nil, fmt.Errorf("db: parse DATABASE_URL: %w", err)
	}
	pc.MaxConns = int32(cmp.Or(o.MaxConns, 10))
	if o.Schema != "" {
		pc.ConnConfig.RuntimeParams["search_path"] = o.Schema
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("db: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("db: connect to PostgreSQL: %w", err)
	}
	b := bun.NewDB(stdlib.OpenDBFromPool(pool), pgdialect.New())
	return &DB{Engine: config.Postgres, W: b, R: b, schema: o.Schema, pool: pool}, nil
}

// Schema is the PostgreSQL schema given at Open ("" for the default).
func (d *DB) Schema() string { return d.schema }

// PgxPool is the PostgreSQL pool (nil on SQLite), for the job queue.
func (d *DB) PgxPool() *pgxpool.Pool { return d.pool }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.W.PingContext(ctx); err != nil {
		return err
	}
	if d.R != d.W {
		return d.R.PingContext(ctx)
	}
	return nil
}

// Close closes every pool.
func (d *DB) Close() error {
	var errs []error
	errs = append(errs, d.W.Close())
	if d.R != d.W {
		errs = append(errs, d.R.Close())
	}
	if d.pool != nil {
		d.pool.Close()
	}
	return errors.Join(errs...)
}

// IsUniqueViolation reports whether err is a unique or primary-key
// violation on either engine, so stores can turn it into apperr.Conflict.
func IsUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// IsForeignKeyViolation reports whether err is a foreign-key failure on
// either engine (a referenced row does not exist).
func IsForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23503"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}
