package lifecycle_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/lifecycle"
)

type testBundle struct {
	mu     sync.Mutex
	events []string
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	return &testBundle{}
}

func (b *testBundle) record(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.events = append(b.events, s)
}

func (b *testBundle) recorded() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.events...)
}

// part records its start and stop; startErr makes Start fail.
func (b *testBundle) part(name string, startErr error) lifecycle.Component {
	return lifecycle.Funcs{
		OnStart: func(context.Context) error {
			if startErr != nil {
				return startErr
			}
			b.record("start " + name)
			return nil
		},
		OnStop: func(context.Context) error {
			b.record("stop " + name)
			return nil
		},
	}
}

func (b *testBundle) group(role config.Role) *lifecycle.Group {
	g := lifecycle.New(role, slog.New(slog.NewTextHandler(io.Discard, nil)))
	g.Add("db-users", b.part("db-users", nil))
	g.Add("queue", b.part("queue", nil), config.RoleWorker)
	g.Add("http", b.part("http", nil), config.RoleAPI)
	g.Add("metrics", b.part("metrics", nil))
	return g
}

func TestStartInOrderStopInReverse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		role config.Role
		want []string
	}{
		{config.RoleAll, []string{"db-users", "queue", "http", "metrics"}},
		{config.RoleAPI, []string{"db-users", "http", "metrics"}},
		{config.RoleWorker, []string{"db-users", "queue", "metrics"}},
	} {
		t.Run(string(tc.role), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			g := b.group(tc.role)
			require.Equal(t, tc.want, g.Names())
			require.NoError(t, g.Start(context.Background()))
			require.NoError(t, g.Stop(context.Background()))
			var want []string
			for _, n := range tc.want {
				want = append(want, "start "+n)
			}
			for i := len(tc.want) - 1; i >= 0; i-- {
				want = append(want, "stop "+tc.want[i])
			}
			require.Equal(t, want, b.recorded())
			require.NoError(t, g.Stop(context.Background()), "a second stop stops nothing")
			require.Len(t, b.recorded(), len(want))
		})
	}
}

// A failed start stops what it had started, in reverse, and names the
// component that failed.
func TestFailedStartStopsWhatStarted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := lifecycle.New(config.RoleAll, slog.New(slog.NewTextHandler(io.Discard, nil)))
	g.Add("a", b.part("a", nil))
	g.Add("b", b.part("b", nil))
	g.Add("c", b.part("c", errors.New("port taken")))
	g.Add("d", b.part("d", nil))
	err := g.Start(context.Background())
	require.EqualError(t, err, "start c: port taken")
	require.Equal(t, []string{"start a", "start b", "stop b", "stop a"}, b.recorded())
	require.NoError(t, g.Stop(context.Background()))
	require.Len(t, b.recorded(), 4, "nothing left to stop")
}

// StartBefore starts a prefix, StartOne one part out of order; Stop still
// follows the list.
func TestPartialStarts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := b.group(config.RoleAll)
	ctx := context.Background()
	require.NoError(t, g.StartBefore(ctx, "queue"))
	require.NoError(t, g.StartOne(ctx, "http"))
	require.NoError(t, g.StartOne(ctx, "http"), "already running")
	require.NoError(t, g.Start(ctx))
	require.NoError(t, g.Stop(ctx))
	require.Equal(t, []string{"start db-users", "start http", "start queue", "start metrics",
		"stop metrics", "stop http", "stop queue", "stop db-users"}, b.recorded())
}

// Loop's Stop returns only once its goroutine has, and its context keeps
// the start context's values without its cancellation.
func TestLoopWaitsForItsGoroutine(t *testing.T) {
	t.Parallel()
	type key struct{}
	var returned atomic.Bool
	got := make(chan any, 1)
	l := lifecycle.Loop(func(ctx context.Context) {
		got <- ctx.Value(key{})
		<-ctx.Done()
		returned.Store(true)
	})
	start, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "request-1"))
	require.NoError(t, l.Start(start))
	cancel()
	require.Equal(t, "request-1", <-got)
	require.False(t, returned.Load(), "the loop ended with its start context")
	require.NoError(t, l.Stop(context.Background()))
	require.True(t, returned.Load(), "Stop returned before the goroutine did")
}

// A goroutine that ignores its stop is reported, after the grace period.
func TestWaitReportsAGoroutineStillRunning(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := lifecycle.Wait(ctx, make(chan struct{}))
	require.ErrorIs(t, err, lifecycle.ErrStillRunning)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
