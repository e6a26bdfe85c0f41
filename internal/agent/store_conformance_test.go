package agent

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/ids"
)

type storeBundle struct {
	ctx   context.Context
	s     *store
	d     *db.DB
	alice string
	bob   string
	now   time.Time
}

func setupStore(t *testing.T, d *db.DB) *storeBundle {
	t.Helper()
	b := &storeBundle{ctx: context.Background(), s: &store{db: d}, d: d, now: time.Now().UTC().Truncate(time.Millisecond)}
	b.alice, b.bob = b.user(t, "alice"), b.user(t, "bob")
	return b
}

// user inserts a user; the subtests share one database, so emails are unique.
func (b *storeBundle) user(t *testing.T, name string) string {
	t.Helper()
	id := ids.New()
	_, err := b.d.W.NewRaw("INSERT INTO users (id, email, created_at, updated_at) VALUES (?, ?, ?, ?)", id, name+"-"+id+"@example.com", b.now, b.now).Exec(b.ctx)
	require.NoError(t, err)
	return id
}

// agent inserts an agent of owner at version 1 with spec.
func (b *storeBundle) agent(t *testing.T, owner, name string, tags Tags, spec Spec) *Agent {
	t.Helper()
	a := &Agent{ID: ids.New(), OwnerID: owner, Name: name, Visibility: "private", Tags: tags, CurrentVersion: 1, CreatedAt: b.now, UpdatedAt: b.now}
	require.NoError(t, b.s.insert(b.ctx, b.d.W, a, &Version{AgentID: a.ID, Version: 1, Spec: db.JSON[Spec]{V: spec}, CreatedBy: owner, CreatedAt: b.now}))
	return a
}

func sampleSpec(instructions string) Spec {
	return Spec{Name: "helper", Instructions: instructions, Model: "openai/gpt-test",
		Tools:      []ToolRef{{Type: "builtin", Name: "current_time"}},
		Guardrails: []Guardrail{{Type: "blocked_patterns", Stage: "input", Patterns: []string{`(?i)\bpassword\b`}}}}
}

// The agent store's contract, the same on every engine: what goes in
// comes back (JSON columns included), missing rows are NotFound, a stale
// edit is a Conflict, lists are newest first and filtered in SQL.
func TestStoreConformance(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Run("round trip", func(t *testing.T) {
			b := setupStore(t, d)
			spec := sampleSpec("be brief")
			a := b.agent(t, b.alice, "Round trip", Tags{"ops", "daily"}, spec)
			got, err := b.s.get(b.ctx, b.d.R, a.ID)
			require.NoError(t, err)
			require.Equal(t, Tags{"ops", "daily"}, got.Tags)
			require.Equal(t, b.alice, got.OwnerID)
			v, err := b.s.version(b.ctx, b.d.R, a.ID, 1)
			require.NoError(t, err)
			require.Equal(t, spec, v.Spec.V)

			untagged := b.agent(t, b.alice, "No tags", nil, spec)
			got, err = b.s.get(b.ctx, b.d.R, untagged.ID)
			require.NoError(t, err)
			require.Equal(t, Tags{}, got.Tags, "no tags are stored as [] and read back as an empty list")
		})
		t.Run("not found", func(t *testing.T) {
			b := setupStore(t, d)
			_, err := b.s.get(b.ctx, b.d.R, ids.New())
			require.True(t, apperr.Is(err, apperr.NotFound), "%v", err)
			a := b.agent(t, b.alice, "One version", nil, sampleSpec("x"))
			_, err = b.s.version(b.ctx, b.d.R, a.ID, 2)
			require.True(t, apperr.Is(err, apperr.NotFound), "%v", err)
			require.True(t, apperr.Is(b.s.deleteGrant(b.ctx, a.ID, b.bob), apperr.NotFound))
			require.True(t, apperr.Is(b.s.putGrant(b.ctx, &Grant{AgentID: a.ID, UserID: ids.New(), Permission: "use", CreatedAt: b.now}), apperr.NotFound),
				"a grant to a user who does not exist")
		})
		t.Run("versions", func(t *testing.T) {
			b := setupStore(t, d)
			a := b.agent(t, b.alice, "Versioned", nil, sampleSpec("v1"))
			a.CurrentVersion = 2
			require.NoError(t, b.s.addVersion(b.ctx, b.d.W, a, &Version{AgentID: a.ID, Version: 2, Spec: db.JSON[Spec]{V: sampleSpec("v2")}, CreatedBy: b.alice, CreatedAt: b.now}))
			stale := *a
			err := b.s.addVersion(b.ctx, b.d.W, &stale, &Version{AgentID: a.ID, Version: 2, Spec: db.JSON[Spec]{V: sampleSpec("lost")}, CreatedBy: b.alice, CreatedAt: b.now})
			require.True(t, apperr.Is(err, apperr.Conflict), "an edit of version 1 after version 2 exists: %v", err)
			vs, err := b.s.versions(b.ctx, a.ID)
			require.NoError(t, err)
			require.Len(t, vs, 2)
			require.Equal(t, []int{2, 1}, []int{vs[0].Version, vs[1].Version}, "newest first")
			require.Equal(t, "v2", vs[0].Spec.V.Instructions)
			other := b.agent(t, b.alice, "Other", nil, sampleSpec("o1"))
			cur, err := b.s.currentVersions(b.ctx, []string{a.ID, other.ID})
			require.NoError(t, err)
			byAgent := map[string]string{}
			for _, v := range cur {
				byAgent[v.AgentID] = v.Spec.V.Instructions
			}
			require.Equal(t, map[string]string{a.ID: "v2", other.ID: "o1"}, byAgent, "only each agent's current version")
		})
		t.Run("grants", func(t *testing.T) {
			b := setupStore(t, d)
			a := b.agent(t, b.alice, "Shared", nil, sampleSpec("x"))
			perm, err := b.s.grant(b.ctx, a.ID, b.bob)
			require.NoError(t, err)
			require.Empty(t, perm)
			require.NoError(t, b.s.putGrant(b.ctx, &Grant{AgentID: a.ID, UserID: b.bob, Permission: "use", CreatedAt: b.now}))
			require.NoError(t, b.s.putGrant(b.ctx, &Grant{AgentID: a.ID, UserID: b.bob, Permission: "edit", CreatedAt: b.now}), "a second grant replaces the first")
			perm, err = b.s.grant(b.ctx, a.ID, b.bob)
			require.NoError(t, err)
			require.Equal(t, "edit", perm)
			gs, err := b.s.grants(b.ctx, a.ID)
			require.NoError(t, err)
			require.Len(t, gs, 1)
			mine := b.agent(t, b.bob, "Bob's", nil, sampleSpec("x"))
			got, err := b.s.grantsFor(b.ctx, b.bob, []Agent{*a, *mine})
			require.NoError(t, err)
			require.Equal(t, map[string]string{a.ID: "edit"}, got, "own agents need no grant")
			require.NoError(t, b.s.deleteGrant(b.ctx, a.ID, b.bob))
			perm, err = b.s.grant(b.ctx, a.ID, b.bob)
			require.NoError(t, err)
			require.Empty(t, perm)
		})
		t.Run("list", func(t *testing.T) {
			b := setupStore(t, d)
			first := b.agent(t, b.alice, "Weather bot", Tags{"weather"}, sampleSpec("x"))
			second := b.agent(t, b.alice, "100% useful", Tags{"ops"}, sampleSpec("x"))
			shared := b.agent(t, b.bob, "Bob's weather", Tags{"weather"}, sampleSpec("x"))
			b.agent(t, b.bob, "Bob's secret", nil, sampleSpec("x"))
			require.NoError(t, b.s.putGrant(b.ctx, &Grant{AgentID: shared.ID, UserID: b.alice, Permission: "use", CreatedAt: b.now}))
			names := func(p listParams) []string {
				t.Helper()
				p.UserID = b.alice
				if p.Limit == 0 {
					p.Limit = 20
				}
				list, err := b.s.list(b.ctx, p)
				require.NoError(t, err)
				out := []string{}
				for _, a := range list {
					out = append(out, a.Name)
				}
				return out
			}
			require.Equal(t, []string{shared.Name, second.Name, first.Name}, names(listParams{}), "owned and shared, newest first")
			require.Equal(t, []string{shared.Name, first.Name}, names(listParams{Tag: "weather"}))
			require.Equal(t, []string{second.Name}, names(listParams{Query: "100%"}), "% in a query is a literal")
			require.Equal(t, []string{shared.Name, first.Name}, names(listParams{Query: "weather"}), "names match whatever their case")
			require.Equal(t, []string{shared.Name, second.Name}, names(listParams{Limit: 2}))
			require.Equal(t, []string{first.Name}, names(listParams{Before: second.ID}))
		})
		t.Run("delete", func(t *testing.T) {
			b := setupStore(t, d)
			a := b.agent(t, b.alice, "Gone", nil, sampleSpec("x"))
			require.NoError(t, b.s.putGrant(b.ctx, &Grant{AgentID: a.ID, UserID: b.bob, Permission: "use", CreatedAt: b.now}))
			require.NoError(t, b.s.delete(b.ctx, a.ID))
			_, err := b.s.get(b.ctx, b.d.R, a.ID)
			require.True(t, apperr.Is(err, apperr.NotFound))
			vs, err := b.s.versions(b.ctx, a.ID)
			require.NoError(t, err)
			require.Empty(t, vs, "its versions go with it")
			gs, err := b.s.grants(b.ctx, a.ID)
			require.NoError(t, err)
			require.Empty(t, gs, "and its grants")
		})
	})
}
