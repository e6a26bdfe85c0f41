package db

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/config"
)

// Stmts keeps prepared statements for a hot read path. bun interpolates
// arguments into the SQL text, so each of its queries is parsed and planned
// again; a statement prepared once is bound and run. A store keeps one
// Stmts and asks it for its statement by text.
//
// Queries use ? placeholders on both engines (rewritten to $n on
// PostgreSQL), so a string literal in them must not contain a "?".
type Stmts struct {
	m sync.Map // stmtKey -> *sql.Stmt
}

type stmtKey struct {
	pool  *bun.DB
	query string
}

// Get returns query prepared on pool (d.R or d.W), preparing it on first
// use. A failed preparation is not kept, so the next call tries again.
// database/sql prepares it again on each pooled connection as needed.
func (s *Stmts) Get(ctx context.Context, d *DB, pool *bun.DB, query string) (*sql.Stmt, error) {
	k := stmtKey{pool: pool, query: query}
	if st, ok := s.m.Load(k); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := pool.DB.PrepareContext(ctx, rebind(d.Engine, query))
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.m.LoadOrStore(k, st); loaded {
		_ = st.Close() // another request prepared it first
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// rebind turns ? placeholders into PostgreSQL's $1, $2, …
func rebind(e config.Engine, q string) string {
	if e != config.Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}
