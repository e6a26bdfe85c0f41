package runctl

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/events"
)

func TestCancelReachesTheRunWhereverItIs(t *testing.T) {
	t.Parallel()
	r := New(events.CancelAgentRun)

	ctx, h, done := r.Track(context.Background(), "a")
	require.Contains(t, r.Executing(), "a")
	require.True(t, r.Interrupt("a"))
	require.Error(t, ctx.Err())
	require.True(t, h.Cancelled())
	require.False(t, h.Lost())
	done()
	require.NotContains(t, r.Executing(), "a")

	// A cancel before the run executes here is applied when it does, once.
	require.False(t, r.Interrupt("b"))
	ctx, h, done = r.Track(context.Background(), "b")
	require.Error(t, ctx.Err())
	require.True(t, h.Cancelled())
	done()
	ctx, _, done = r.Track(context.Background(), "b")
	require.NoError(t, ctx.Err())
	done()

	ctx, h, done = r.Track(context.Background(), "c")
	h.Lose()
	require.Error(t, ctx.Err())
	require.True(t, h.Lost())
	require.False(t, h.Cancelled())
	done()
}

func TestRelayedCancelsOfOneKindOnly(t *testing.T) {
	t.Parallel()
	bus := events.New(events.NewMemory(0), slog.New(slog.DiscardHandler))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	bus.Start(ctx)
	defer bus.Close()
	runs, flows := New(events.CancelAgentRun), New(events.CancelWorkflowRun)
	// The agent-run listener reports each control message it has dealt
	// with, so the test knows it saw the workflow cancel (and left the run
	// alone) rather than hoping a sleep was long enough.
	runsHandled := make(chan events.Type, 16)
	runs.handled = func(action events.Type, _ string) { runsHandled <- action }
	runsDone, flowsDone := runs.Listen(ctx, bus), flows.Listen(ctx, bus)
	defer func() {
		stop()
		<-runsDone
		<-flowsDone
	}()
	rctx, _, done := runs.Track(context.Background(), "x")
	defer done()
	fctx, _, fdone := flows.Track(context.Background(), "x")
	defer fdone()
	require.NoError(t, flows.Relay(context.Background(), bus, "x"))
	require.Eventually(t, func() bool { return fctx.Err() != nil }, 2*time.Second, 5*time.Millisecond)
	select {
	case action := <-runsHandled:
		require.Equal(t, events.CancelWorkflowRun, action)
	case <-time.After(2 * time.Second):
		t.Fatal("the agent-run listener never saw the workflow cancel")
	}
	require.NoError(t, rctx.Err(), "a workflow cancel does not stop an agent run with the same id")
}
