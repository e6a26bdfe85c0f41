package workflow

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
)

// A cancel that reaches this process after the run was claimed but before
// it started executing here is not lost: the execution starts cancelled.
func TestCancelBetweenClaimAndExecution(t *testing.T) {
	t.Parallel()
	d := dbtest.Open(t, config.SQLite)
	ctx := context.Background()
	_, err := d.W.NewRaw("INSERT INTO users (id, email, role, active, created_at, updated_at) VALUES ('u', 'u@x.io', 'user', TRUE, ?, ?)",
		time.Now(), time.Now()).Exec(ctx)
	require.NoError(t, err)
	s := New(Params{DB: d})
	ctx = authn.With(ctx, &authn.Principal{UserID: "u", Role: authn.RoleUser})
	name := "c"
	w, _, err := s.Create(ctx, SaveParams{Name: &name, Definition: json.RawMessage(`{"entry":"a","nodes":[{"id":"a","type":"noop"}]}`)})
	require.NoError(t, err)
	r, err := s.Start(ctx, StartParams{WorkflowID: w.ID})
	require.NoError(t, err)

	require.False(t, s.ctl.Interrupt(r.ID), "not executing yet")
	out, err := s.Execute(ctx, r, nil)
	require.NoError(t, err)
	require.Equal(t, StatusCancelled, out.Status)

	// The memory is used once.
	r2, err := s.Start(ctx, StartParams{WorkflowID: w.ID})
	require.NoError(t, err)
	out, err = s.Execute(ctx, r2, nil)
	require.NoError(t, err)
	require.Equal(t, StatusSucceeded, out.Status)
}
