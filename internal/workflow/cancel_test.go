package workflow

import (
	"testing"

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

	require.False(t, s.ctl.Interrupt(r.ID), "not executing yet")
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
