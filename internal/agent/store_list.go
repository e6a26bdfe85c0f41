package agent

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/config"
)

// The plain list (no search words, no tag) is the API's busiest read. It is
// two prepared statements, the owned and the shared agents each read in
// index order up to the page size, merged and cut to the page, instead of two
// queries bun would build, interpolate and have SQLite parse on every
// request.
//
// The page size is written into the statement, not bound: SQLite re-plans a
// statement on every run when a bound value feeds its LIMIT (measured: about
// 2.5x the cost of the query). Limits are 1..101, so there are few texts.
//
// On SQLite the times are read as text and parsed once by bun's parser: for
// a TIMESTAMP column the driver tries time.Time's String layout (which never
// matches what bun writes) before the right one, on every value; that was
// about a tenth of the request.
const (
	listAColumns       = `a.id, a.owner_id, a.name, a.description, a.visibility, a.tags, a.current_version, a.created_at, a.updated_at`
	listAColumnsSQLite = `a.id, a.owner_id, a.name, a.description, a.visibility, a.tags, a.current_version, CAST(a.created_at AS TEXT), CAST(a.updated_at AS TEXT)`
)

// listQueries returns the owned and the shared statements' text.
func listQueries(e config.Engine, limit int, cursor bool) (owned, shared string) {
	cols := listAColumns
	if e == config.SQLite {
		cols = listAColumnsSQLite
	}
	o, s := "", ""
	if cursor {
		o, s = " AND a.id < ?", " AND g.agent_id < ?"
	}
	lim := " LIMIT " + strconv.Itoa(limit)
	return `SELECT ` + cols + ` FROM agents AS a WHERE a.owner_id = ?` + o + ` ORDER BY a.id DESC` + lim,
		`SELECT ` + cols + ` FROM agent_grants AS g JOIN agents AS a ON a.id = g.agent_id WHERE g.user_id = ?` + s +
			` ORDER BY g.agent_id DESC` + lim
}

// listPlain is list without a search or tag filter.
func (s *store) listPlain(ctx context.Context, p listParams) ([]Agent, error) {
	ownedQ, sharedQ := listQueries(s.db.Engine, p.Limit, p.Before != "")
	args := []any{p.UserID}
	if p.Before != "" {
		args = append(args, p.Before)
	}
	out := make([]Agent, 0, p.Limit)
	out, err := s.listRows(ctx, out, ownedQ, args)
	if err != nil {
		return nil, err
	}
	owned := len(out)
	if out, err = s.listRows(ctx, out, sharedQ, args); err != nil {
		return nil, err
	}
	if len(out) == owned {
		return out, nil
	}
	slices.SortFunc(out, func(a, b Agent) int { return strings.Compare(b.ID, a.ID) })
	return out[:min(len(out), p.Limit)], nil
}

// listRows runs one prepared list statement and appends its agents to out.
func (s *store) listRows(ctx context.Context, out []Agent, query string, args []any) ([]Agent, error) {
	st, err := s.stmts.Get(ctx, s.db, s.db.R, query)
	if err != nil {
		return nil, fmt.Errorf("agent: prepare list: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var a Agent
		var created, updated bun.NullTime
		if err := rows.Scan(&a.ID, &a.OwnerID, &a.Name, &a.Description, &a.Visibility, &a.Tags, &a.CurrentVersion, &created, &updated); err != nil {
			return nil, err
		}
		a.CreatedAt, a.UpdatedAt = created.Time, updated.Time
		out = append(out, a)
	}
	return out, rows.Err()
}
