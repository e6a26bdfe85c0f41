package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/config"
)

// Tx is one database transaction. Run bun queries on it like on a bun.DB;
// the job queue reaches the same transaction through SQLTx or PgxTx, so a
// feature's rows and the jobs they cause commit or roll back together.
type Tx struct {
	bun.IDB
	engine config.Engine
	sqlTx  *sql.Tx    // SQLite
	pgxTx  pgx.Tx     // PostgreSQL
	pw     *pipeWrite // a write of a pipelined group commit (PostgreSQL)
}

// Engine is the engine the transaction runs on.
func (t *Tx) Engine() config.Engine { return t.engine }

// SQLTx is the database/sql transaction on SQLite (nil on PostgreSQL).
func (t *Tx) SQLTx() *sql.Tx { return t.sqlTx }

// PgxTx is the pgx transaction on PostgreSQL (nil on SQLite). In a
// pipelined group commit, the write that asks for it holds the connection
// alone from then until it returns.
func (t *Tx) PgxTx() pgx.Tx {
	if t.pw != nil {
		_ = t.pw.holdAlone() // a failed group fails at commit, whatever runs now
	}
	return t.pgxTx
}

// InTx runs fn in a transaction on the writer and commits when fn returns
// nil; on an error or a panic it rolls back. Do not use d.W inside fn on
// SQLite: the writer's only connection is the transaction's.
func (d *DB) InTx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) (err error) {
	if d.Engine == config.Postgres {
		return d.inPgxTx(ctx, fn)
	}
	btx, err := d.W.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = btx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = btx.Rollback()
		}
	}()
	if err = fn(ctx, &Tx{IDB: btx, engine: d.Engine, sqlTx: btx.Tx}); err != nil {
		return err
	}
	return btx.Commit()
}

// inPgxTx begins the transaction on the pgx connection under a database/sql
// connection and runs bun on that same connection: River's pgx driver needs
// a pgx.Tx, bun needs database/sql, and both must share one transaction.
func (d *DB) inPgxTx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) (err error) {
	conn, err := d.W.Conn(ctx)
	if err != nil {
		return fmt.Errorf("db: acquire connection: %w", err)
	}
	defer conn.Close()
	return d.inPgxTxOn(ctx, conn, fn)
}

// inPgxTxOn runs a transaction on a connection the caller holds.
func (d *DB) inPgxTxOn(ctx context.Context, conn bun.Conn, fn func(ctx context.Context, tx *Tx) error) (err error) {
	var pc *pgx.Conn
	if err := conn.Raw(func(dc any) error {
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("db: unexpected driver connection %T", dc)
		}
		pc = sc.Conn()
		return nil
	}); err != nil {
		return err
	}
	// The pgx connection is used outside Raw's callback. That is safe here
	// because conn is held exclusively until the deferred Close.
	ptx, err := pc.Begin(ctx)
	if err != nil {
		return fmt.Errorf("db: begin: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = ptx.Rollback(context.WithoutCancel(ctx))
			panic(p)
		}
		if err != nil {
			_ = ptx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err = fn(ctx, &Tx{IDB: conn, engine: d.Engine, pgxTx: ptx}); err != nil {
		return err
	}
	if err = ptx.Commit(ctx); err != nil {
		return fmt.Errorf("db: commit: %w", err)
	}
	return nil
}

// ErrNoRows is returned by bun when a single-row query finds nothing.
var ErrNoRows = sql.ErrNoRows

// IsNoRows reports whether err means "no such row".
func IsNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
