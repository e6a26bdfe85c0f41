package agent

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
)

type storeListBundle struct {
	store *store
	ctx   context.Context
}

// setupStoreList stores two users: "u" owns 30 agents, "v" owns 10 and has
// shared every other one with u, so u's pages interleave owned and shared.
func setupStoreList(t *testing.T, d *db.DB) *storeListBundle {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	for _, u := range []string{"u", "v"} {
		_, err := d.W.NewRaw("INSERT INTO users (id, email, role, active, created_at, updated_at) VALUES (?, ?, 'user', TRUE, ?, ?)",
			u, u+"@x.io", now, now).Exec(ctx)
		require.NoError(t, err)
	}
	s := &store{db: d}
	for i := range 40 {
		owner := "u"
		if i%4 == 3 {
			owner = "v"
		}
		at := now.Add(time.Duration(i) * time.Millisecond)
		a := &Agent{ID: fmt.Sprintf("0190d3e8-7c9a-7b2e-8f00-%012d", i), OwnerID: owner, Name: fmt.Sprintf("agent %d", i),
			Visibility: Private, Tags: Tags{"t"}, CurrentVersion: 1, CreatedAt: at, UpdatedAt: at}
		require.NoError(t, s.insert(ctx, d.W, a, &Version{AgentID: a.ID, Version: 1, Spec: db.JSON[Spec]{V: Spec{Name: a.Name}}, CreatedBy: owner, CreatedAt: at}))
		if owner == "v" && i%8 == 3 {
			require.NoError(t, s.putGrant(ctx, &Grant{AgentID: a.ID, UserID: "u", Permission: PermView, CreatedAt: at}))
		}
	}
	return &storeListBundle{store: s, ctx: ctx}
}

// The prepared plain list returns exactly what the general query builder
// returns, page by page, on both engines: same rows, order, columns, times.
func TestListPlainMatchesFiltered(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		b := setupStoreList(t, d)
		for _, user := range []string{"u", "v"} {
			seen, cursor := 0, ""
			for page := 0; ; page++ {
				p := listParams{UserID: user, Before: cursor, Limit: 7}
				plain, err := b.store.listPlain(b.ctx, p)
				require.NoError(t, err)
				filtered, err := b.store.listFiltered(b.ctx, p)
				require.NoError(t, err)
				if len(filtered) == 0 {
					require.Empty(t, plain, "user %s page %d", user, page) // past the last page
				} else {
					require.Equal(t, filtered, plain, "user %s page %d", user, page)
				}
				for i := 1; i < len(plain); i++ {
					require.Greater(t, plain[i-1].ID, plain[i].ID, "newest first")
				}
				seen += len(plain)
				if len(plain) < p.Limit {
					break
				}
				cursor = plain[len(plain)-1].ID
			}
			want := map[string]int{"u": 30 + 5, "v": 10}[user]
			require.Equal(t, want, seen, "user %s: owned plus shared", user)
		}
	})
}
