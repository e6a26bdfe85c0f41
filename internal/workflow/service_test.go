package workflow

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
)

// newService is a workflow service as the app builds it (group commits
// on), on a real database of engine e, with one user (signed in on the
// returned context) owning one workflow of the given definition. p.DB and
// p.Batch are filled in.
func newService(tb testing.TB, e config.Engine, p Params, definition string) (*Service, context.Context, string) {
	tb.Helper()
	d := dbtest.Open(tb, e)
	_, err := d.W.NewRaw("INSERT INTO users (id, email, role, active, created_at, updated_at) VALUES ('u', 'u@x.io', 'user', TRUE, ?, ?)",
		time.Now(), time.Now()).Exec(context.Background())
	require.NoError(tb, err)
	p.DB, p.Batch = d, db.NewBatcher(d)
	tb.Cleanup(p.Batch.Close)
	s := New(p)
	ctx := authn.With(context.Background(), &authn.Principal{UserID: "u", Role: authn.RoleUser})
	name := "test"
	w, _, err := s.Create(ctx, SaveParams{Name: &name, Definition: json.RawMessage(definition)})
	require.NoError(tb, err)
	return s, ctx, w.ID
}
