package workflow

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/config"
)

// A cancel that reaches this process after the run was claimed but before
// it started executing here is not lost: the execution starts cancelled.
func TestCancelBetweenClaimAndExecution(t *testing.T) {
	t.Parallel()
	s, ctx, wf := newService(t, config.SQLite, Params{}, `{"entry":"a","nodes":[{"id":"a","type":"noop"}]}`)
	r, err := s.Start(ctx, StartParams{WorkflowID: wf})
	require.NoError(t, err)

	require.False(t, s.leases.Interrupt(r.ID), "not executing yet")
	out, err := s.Execute(ctx, r, nil)
	require.NoError(t, err)
	require.Equal(t, StatusCancelled, out.Status)

	// The memory is used once.
	r2, err := s.Start(ctx, StartParams{WorkflowID: wf})
	require.NoError(t, err)
	out, err = s.Execute(ctx, r2, nil)
	require.NoError(t, err)
	require.Equal(t, StatusSucceeded, out.Status)
}

// A cancel that finds the run claimed but not executing here is
// remembered; if the claiming worker ends the run with it while Cancel is
// still at work, Cancel reports the cancelled run, not a conflict.
func TestCancelTakingEffectWhileItRuns(t *testing.T) {
	t.Parallel()
	s, ctx, wf := newService(t, config.SQLite, Params{}, `{"entry":"a","nodes":[{"id":"a","type":"noop"}]}`)
	r, err := s.Start(ctx, StartParams{WorkflowID: wf})
	require.NoError(t, err)
	_, err = s.db.W.NewUpdate().Model((*Run)(nil)).Set("status = ?", StatusRunning).Where("id = ?", r.ID).Exec(ctx)
	require.NoError(t, err)
	// Cancel reads the clock after remembering the cancel and before its
	// updates: the moment the worker (played here) ends the run.
	var once sync.Once
	s.now = func() time.Time {
		once.Do(func() {
			_, err := s.db.W.NewUpdate().Model((*Run)(nil)).Set("status = ?", StatusCancelled).Where("id = ?", r.ID).Exec(ctx)
			require.NoError(t, err)
		})
		return time.Now()
	}
	out, err := s.Cancel(ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, StatusCancelled, out.Status)

	// Cancelling it again is a conflict.
	_, err = s.Cancel(ctx, r.ID)
	require.ErrorContains(t, err, "already ended (cancelled)")
}
