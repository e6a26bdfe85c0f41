package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
)

// A pipelined group runs the writes of one PostgreSQL group commit
// concurrently, each on its own goroutine, in one transaction. A write's
// statements still run one after another, each seeing the results of the
// last; but when every write of the group is waiting for a statement (or
// done), all the waiting statements go to the server as one multi-statement
// query: one round trip. A group of 500 writes of three statements each so
// costs three round trips, not 1,500.
//
// Queries are pipelined too (their rows come back in text format and are
// decoded as pgx's database/sql driver would). A write that binds
// arguments separately, or takes the pgx transaction (the job queue),
// holds the connection alone from then until it ends.
//
// Any failure (a statement's, or a write returning an error) dooms the
// group: later statements fail without reaching the server, the group rolls
// back, and the Batcher retries each write in a transaction of its own.

// errGroupFailed answers the statements of a group that already failed.
var errGroupFailed = errors.New("db: another write of the group failed; the group is retried write by write")

// pipe is one pipelined group on the committer's connection.
type pipe struct {
	conn *stdlib.Conn // in the group's transaction

	mu      sync.Mutex
	cond    sync.Cond
	running int         // writes neither waiting nor done
	queue   []*pipeStmt // statements waiting for the next round
	busy    bool        // a round is on the wire, or a write holds the connection alone
	err     error       // the group's first failure
	rounds  int         // round trips taken by statements (for tests and metrics)
}

type pipeStmt struct {
	sql    string
	tag    pgconn.CommandTag
	fields []pgconn.FieldDescription // a statement that returns rows
	rows   [][][]byte                // their values, in text format
	err    error
	done   bool
}

func newPipe(conn *stdlib.Conn, writes int) *pipe {
	p := &pipe{conn: conn, running: writes}
	p.cond.L = &p.mu
	return p
}

// pipeWrite is one write of a pipelined group; the statements it issues
// find it through their context.
type pipeWrite struct {
	p     *pipe
	alone bool // holds the connection until it ends
}

type pipeKey struct{}

func pipeWriteOf(ctx context.Context) *pipeWrite {
	w, _ := ctx.Value(pipeKey{}).(*pipeWrite)
	return w
}

// waitFor waits, with mu held, until ok; the last write to wait sends the
// round that everyone waits for.
func (p *pipe) waitFor(ok func() bool) {
	for !ok() {
		if p.running == 0 && !p.busy && len(p.queue) > 0 {
			p.round()
			continue
		}
		p.cond.Wait()
	}
}

// round sends every queued statement in one query, with mu held (released
// while on the wire).
func (p *pipe) round() {
	q := p.queue
	p.queue = nil
	if p.err == nil {
		p.busy = true
		p.rounds++
		p.mu.Unlock()
		err := p.send(q)
		p.mu.Lock()
		p.busy = false
		if err != nil && p.err == nil {
			p.err = err
		}
	} else {
		for _, s := range q {
			s.err = errGroupFailed
		}
	}
	for _, s := range q {
		s.done = true
	}
	p.running += len(q)
	p.cond.Broadcast()
}

// send runs q as one simple-protocol query (the protocol database/sql's
// pgx driver uses for bun's statements, which carry their arguments
// inline) and hands each statement its own result.
func (p *pipe) send(q []*pipeStmt) error {
	var sb strings.Builder
	for i, s := range q {
		if i > 0 {
			// The newline ends a trailing line comment, which would
			// otherwise swallow the next statement.
			sb.WriteString("\n;")
		}
		sb.WriteString(s.sql)
	}
	mrr := p.conn.Conn().PgConn().Exec(context.Background(), sb.String())
	n := 0
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		var fields []pgconn.FieldDescription
		var rows [][][]byte
		if fd := rr.FieldDescriptions(); len(fd) > 0 {
			fields = append(fields, fd...)
			for rr.NextRow() {
				rows = append(rows, copyRow(rr.Values()))
			}
		}
		tag, err := rr.Close()
		if n < len(q) {
			q[n].tag, q[n].err, q[n].fields, q[n].rows = tag, err, fields, rows
		}
		n++
	}
	err := mrr.Close()
	if err == nil && n != len(q) {
		err = fmt.Errorf("db: pipelined round: %d results for %d statements", n, len(q))
	}
	// Up to the first failure every statement has its result; that one
	// gets the error; the server skipped the rest (the transaction is
	// aborted).
	first := len(q)
	for i, s := range q {
		if i >= n || s.err != nil {
			first = i
			break
		}
	}
	if first < len(q) {
		if q[first].err == nil {
			q[first].err = err // n < len(q), so err is set
		}
		if err == nil {
			err = q[first].err
		}
		for _, s := range q[first+1:] {
			s.err, s.tag = errGroupFailed, pgconn.CommandTag{}
		}
	}
	return err
}

// exec runs one statement of w.
func (w *pipeWrite) exec(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	p := w.p
	if len(args) > 0 || w.alone {
		if err := w.holdAlone(); err != nil {
			return nil, err
		}
		res, err := p.conn.ExecContext(ctx, query, args)
		if err != nil {
			p.fail(err)
		}
		return res, err
	}
	s, err := w.pipelined(query)
	if err != nil {
		return nil, err
	}
	return driver.RowsAffected(s.tag.RowsAffected()), nil
}

// pipelined queues a statement for the next round and waits for its
// result.
func (w *pipeWrite) pipelined(query string) (*pipeStmt, error) {
	p := w.p
	s := &pipeStmt{sql: query}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return nil, errGroupFailed
	}
	p.queue = append(p.queue, s)
	p.running--
	p.waitFor(func() bool { return s.done })
	return s, s.err
}

// query runs a query of w: pipelined like any statement (RETURNING),
// unless its arguments are bound separately.
func (w *pipeWrite) query(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	p := w.p
	if len(args) > 0 || w.alone {
		if err := w.holdAlone(); err != nil {
			return nil, err
		}
		rows, err := p.conn.QueryContext(ctx, query, args)
		if err != nil {
			p.fail(err)
		}
		return rows, err
	}
	s, err := w.pipelined(query)
	if err != nil {
		return nil, err
	}
	return &pipeRows{m: p.conn.Conn().TypeMap(), fields: s.fields, rows: s.rows}, nil
}

// holdAlone waits until no round is on the wire and takes the connection
// for w until it ends. It fails if the group already failed, but holds the
// connection all the same: the caller may still use it.
func (w *pipeWrite) holdAlone() error {
	p := w.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if !w.alone {
		p.running--
		p.waitFor(func() bool { return !p.busy })
		p.busy, w.alone = true, true
		p.running++
	}
	if p.err != nil {
		return errGroupFailed
	}
	return nil
}

func (p *pipe) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
}

// end records that w's write returned err.
func (w *pipeWrite) end(err error) {
	p := w.p
	p.mu.Lock()
	if w.alone {
		p.busy, w.alone = false, false
	}
	p.running--
	if err != nil && p.err == nil {
		p.err = err
	}
	p.cond.Broadcast()
	if p.running == 0 && !p.busy && len(p.queue) > 0 {
		p.round()
	}
	p.mu.Unlock()
}

// newPipeDB is the bun handle a pipelined group's writes run their
// queries on: its connections are stateless, and route each statement to
// the group of the write whose context carries it.
func newPipeDB() *bun.DB {
	sdb := sql.OpenDB(pipeConnector{})
	sdb.SetMaxIdleConns(4096) // a connection costs nothing; reopening it does
	return bun.NewDB(sdb, pgdialect.New())
}

var errNotInGroup = errors.New("db: a pipelined statement outside its group's write")

type pipeConnector struct{}

func (pipeConnector) Connect(context.Context) (driver.Conn, error) { return pipeConn{}, nil }
func (pipeConnector) Driver() driver.Driver                        { return pipeDriver{} }

type pipeDriver struct{}

func (pipeDriver) Open(string) (driver.Conn, error) { return pipeConn{}, nil }

type pipeConn struct{}

func (pipeConn) Prepare(string) (driver.Stmt, error) {
	return nil, errors.New("db: prepared statements are not supported in a group commit")
}
func (pipeConn) Close() error { return nil }
func (pipeConn) Begin() (driver.Tx, error) {
	return nil, errors.New("db: a group commit's write is already in a transaction")
}

// CheckNamedValue passes every argument through to pgx, as its own
// database/sql driver does.
func (pipeConn) CheckNamedValue(*driver.NamedValue) error { return nil }

func (pipeConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	w := pipeWriteOf(ctx)
	if w == nil {
		return nil, errNotInGroup
	}
	return w.exec(ctx, query, args)
}

func (pipeConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	w := pipeWriteOf(ctx)
	if w == nil {
		return nil, errNotInGroup
	}
	return w.query(ctx, query, args)
}

func copyRow(values [][]byte) [][]byte {
	row := make([][]byte, len(values))
	for i, v := range values {
		if v != nil {
			row[i] = append([]byte{}, v...)
		}
	}
	return row
}

// pipeRows are a pipelined query's rows, read already.
type pipeRows struct {
	m      *pgtype.Map
	fields []pgconn.FieldDescription
	rows   [][][]byte
	next   int
}

func (r *pipeRows) Columns() []string {
	out := make([]string, len(r.fields))
	for i, f := range r.fields {
		out[i] = f.Name
	}
	return out
}

func (r *pipeRows) Close() error { return nil }

// Next decodes a row to the values pgx's database/sql driver gives for
// the same types.
func (r *pipeRows) Next(dest []driver.Value) error {
	if r.next >= len(r.rows) {
		return io.EOF
	}
	row := r.rows[r.next]
	r.next++
	for i, src := range row {
		if src == nil {
			dest[i] = nil
			continue
		}
		v, err := r.value(r.fields[i], src)
		if err != nil {
			return fmt.Errorf("db: column %s: %w", r.fields[i].Name, err)
		}
		dest[i] = v
	}
	return nil
}

func (r *pipeRows) value(f pgconn.FieldDescription, src []byte) (driver.Value, error) {
	scan := func(d any) error { return r.m.Scan(f.DataTypeOID, f.Format, src, d) }
	switch f.DataTypeOID {
	case pgtype.BoolOID:
		var d bool
		return d, scan(&d)
	case pgtype.ByteaOID:
		var d []byte
		return d, scan(&d)
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID:
		var d int64
		return d, scan(&d)
	case pgtype.Float4OID, pgtype.Float8OID:
		var d float64
		return d, scan(&d)
	case pgtype.DateOID, pgtype.TimestampOID, pgtype.TimestamptzOID:
		var d time.Time
		return d, scan(&d)
	default:
		return string(src), nil
	}
}
