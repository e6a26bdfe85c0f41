package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/db"
)

// store is the agent feature's SQL.
type store struct {
	db    *db.DB
	stmts db.Stmts // prepared statements of the hot reads
}

func (s *store) insert(ctx context.Context, tx bun.IDB, a *Agent, v *Version) error {
	if _, err := tx.NewInsert().Model(a).Exec(ctx); err != nil {
		return fmt.Errorf("agent: insert: %w", err)
	}
	_, err := tx.NewInsert().Model(v).Exec(ctx)
	return err
}

// addVersion stores v and makes it current, unless another writer got
// there first (then Conflict: the caller edited an outdated agent).
func (s *store) addVersion(ctx context.Context, tx bun.IDB, a *Agent, v *Version) error {
	res, err := tx.NewUpdate().Model(a).Column("name", "description", "visibility", "tags", "current_version", "updated_at").
		WherePK().Where("current_version = ?", v.Version-1).Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return apperr.New(apperr.Conflict, "the agent changed meanwhile; reload it and try again")
	}
	_, err = tx.NewInsert().Model(v).Exec(ctx)
	return err
}

func (s *store) get(ctx context.Context, idb bun.IDB, id string) (*Agent, error) {
	a := &Agent{}
	if err := idb.NewSelect().Model(a).Where("id = ?", id).Scan(ctx); err != nil {
		if db.IsNoRows(err) {
			return nil, apperr.New(apperr.NotFound, "agent not found")
		}
		return nil, err
	}
	return a, nil
}

func (s *store) version(ctx context.Context, idb bun.IDB, agentID string, version int) (*Version, error) {
	v := &Version{}
	err := idb.NewSelect().Model(v).Where("agent_id = ? AND version = ?", agentID, version).Scan(ctx)
	if db.IsNoRows(err) {
		return nil, apperr.Errorf(apperr.NotFound, "version %d not found", version)
	}
	return v, err
}

func (s *store) versions(ctx context.Context, agentID string) ([]Version, error) {
	var out []Version
	err := s.db.R.NewSelect().Model(&out).Where("agent_id = ?", agentID).Order("version DESC").Scan(ctx)
	return out, err
}

func (s *store) grant(ctx context.Context, agentID, userID string) (string, error) {
	var perm string
	err := s.db.R.NewSelect().Model((*Grant)(nil)).Column("permission").Where("agent_id = ? AND user_id = ?", agentID, userID).Scan(ctx, &perm)
	if db.IsNoRows(err) {
		return "", nil
	}
	return perm, err
}

func (s *store) grants(ctx context.Context, agentID string) ([]Grant, error) {
	var out []Grant
	err := s.db.R.NewSelect().Model(&out).Where("agent_id = ?", agentID).Order("created_at").Scan(ctx)
	return out, err
}

func (s *store) putGrant(ctx context.Context, g *Grant) error {
	_, err := s.db.W.NewInsert().Model(g).On("CONFLICT (agent_id, user_id) DO UPDATE").Set("permission = EXCLUDED.permission").Exec(ctx)
	if err != nil && db.IsForeignKeyViolation(err) {
		return apperr.New(apperr.NotFound, "user not found")
	}
	return err
}

func (s *store) deleteGrant(ctx context.Context, agentID, userID string) error {
	res, err := s.db.W.NewDelete().Model((*Grant)(nil)).Where("agent_id = ? AND user_id = ?", agentID, userID).Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.New(apperr.NotFound, "grant not found")
	}
	return nil
}

func (s *store) delete(ctx context.Context, id string) error {
	_, err := s.db.W.NewDelete().Model((*Agent)(nil)).Where("id = ?", id).Exec(ctx)
	return err
}

type listParams struct {
	UserID string
	Query  string
	Tag    string
	Before string
	Limit  int
}

// list returns the agents the user owns or was granted, newest first. The
// owned and the shared ones are read by two index-ordered queries and
// merged, which reads only the rows of the page (one query with OR must
// gather and sort every candidate first).
func (s *store) list(ctx context.Context, p listParams) ([]Agent, error) {
	if p.Query == "" && p.Tag == "" {
		return s.listPlain(ctx, p)
	}
	return s.listFiltered(ctx, p)
}

// listFiltered builds the two queries with whatever filters p has.
func (s *store) listFiltered(ctx context.Context, p listParams) ([]Agent, error) {
	filter := func(q *bun.SelectQuery) *bun.SelectQuery {
		if p.Query != "" {
			like := "%" + escapeLike(p.Query) + "%"
			q = q.Where("(LOWER(?TableAlias.name) LIKE ? ESCAPE '\\' OR LOWER(?TableAlias.description) LIKE ? ESCAPE '\\')", like, like)
		}
		if p.Tag != "" {
			q = q.Where("?TableAlias.tags LIKE ?", `%"`+p.Tag+`"%`) // tags are validated to [a-z0-9-]
		}
		if p.Before != "" {
			q = q.Where("?TableAlias.id < ?", p.Before)
		}
		return q.OrderExpr("?TableAlias.id DESC").Limit(int64(p.Limit))
	}
	var owned, shared []Agent
	if err := filter(s.db.R.NewSelect().Model(&owned).Where("?TableAlias.owner_id = ?", p.UserID)).Scan(ctx); err != nil {
		return nil, err
	}
	err := filter(s.db.R.NewSelect().Model(&shared).
		Join("JOIN agent_grants AS g ON g.agent_id = ?TableAlias.id").Where("g.user_id = ?", p.UserID)).Scan(ctx)
	if err != nil {
		return nil, err
	}
	if len(shared) == 0 {
		return owned, nil
	}
	out := append(owned, shared...)
	slices.SortFunc(out, func(a, b Agent) int { return strings.Compare(b.ID, a.ID) })
	return out[:min(len(out), p.Limit)], nil
}

// currentVersions loads the current versions of the given agents.
func (s *store) currentVersions(ctx context.Context, agentIDs []string) ([]Version, error) {
	var out []Version
	err := s.db.R.NewSelect().Model(&out).
		Join("JOIN agents AS a ON a.id = ?TableAlias.agent_id AND a.current_version = ?TableAlias.version").
		Where("?TableAlias.agent_id IN (?)", bun.In(agentIDs)).Scan(ctx)
	return out, err
}

// grantsFor returns the user's grant on each of the agents that has one.
func (s *store) grantsFor(ctx context.Context, userID string, agents []Agent) (map[string]string, error) {
	out := map[string]string{}
	var idsIn []string
	for _, a := range agents {
		if a.OwnerID != userID {
			idsIn = append(idsIn, a.ID)
		}
	}
	if len(idsIn) == 0 {
		return out, nil // all the user's own: the common case needs no query
	}
	var gs []Grant
	err := s.db.R.NewSelect().Model(&gs).Where("user_id = ? AND agent_id IN (?)", userID, bun.In(idsIn)).Scan(ctx)
	for _, g := range gs {
		out[g.AgentID] = g.Permission
	}
	return out, err
}

func escapeLike(s string) string {
	r := make([]rune, 0, len(s))
	for _, c := range s {
		if c == '%' || c == '_' || c == '\\' {
			r = append(r, '\\')
		}
		r = append(r, c)
	}
	return string(r)
}
