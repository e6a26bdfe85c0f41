package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/kv"
	"github.com/pulse-run/pulse/internal/platform/queue"
)

type noopArgs struct{ N int }

func (noopArgs) Kind() string { return "test.noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
}

func (noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

type testBundle struct {
	db *db.DB
	q  *queue.Queue
	kv *kv.Store
}

// setup migrates River too and builds a queue that is not started, with the
// maintenance job pruning a kv store whose clock is an hour behind (so
// entries it writes with a short TTL are already expired in real time).
func setup(t *testing.T, d *db.DB) *testBundle {
	t.Helper()
	ctx := context.Background()
	_, err := queue.Migrate(ctx, d, nil)
	require.NoError(t, err)
	past := func() time.Time { return time.Now().Add(-time.Hour) }
	store := kv.New(d, past)
	workers := river.NewWorkers()
	river.AddWorker(workers, noopWorker{})
	pruneReal := kv.New(d, nil)
	maint := queue.AddMaintenance(workers, time.Hour, nil, queue.Pruner{Name: "kv", Prune: pruneReal.PruneAll})
	q, err := queue.New(queue.Params{DB: d, Workers: workers, PeriodicJobs: []*river.PeriodicJob{maint}, FetchPollInterval: 200 * time.Millisecond})
	require.NoError(t, err)
	return &testBundle{db: d, q: q, kv: store}
}

func countJobs(t *testing.T, d *db.DB, kind string) int {
	t.Helper()
	n, err := d.R.NewSelect().Table("river_job").Where("kind = ?", kind).Count(context.Background())
	require.NoError(t, err)
	return int(n)
}

func countKV(t *testing.T, d *db.DB, ns string) int {
	t.Helper()
	n, err := d.R.NewSelect().Table("pulse_kv").Where("namespace = ?", ns).Count(context.Background())
	require.NoError(t, err)
	return int(n)
}

func TestMigrationStatus(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s, err := queue.Status(ctx, d)
		require.NoError(t, err)
		require.False(t, s.UpToDate())
		require.Zero(t, s.Current)

		n, err := queue.Migrate(ctx, d, nil)
		require.NoError(t, err)
		require.Positive(t, n)
		s, err = queue.Status(ctx, d)
		require.NoError(t, err)
		require.True(t, s.UpToDate(), "%+v", s)

		n, err = queue.Migrate(ctx, d, nil)
		require.NoError(t, err)
		require.Zero(t, n, "a second migrate is a no-op")
	})
}

// The transaction helper carries our writes and the job insert together:
// both land on commit, neither on rollback.
func TestInsertTxSharesTheTransaction(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		b := setup(t, d)

		write := func(ctx context.Context, tx *db.Tx, key string) error {
			_, err := tx.NewRaw("INSERT INTO pulse_kv (namespace, key, value, created_at) VALUES (?, ?, ?, ?)",
				"txtest", key, []byte("v"), time.Now().UTC()).Exec(ctx)
			if err != nil {
				return err
			}
			_, err = b.q.InsertTx(ctx, tx, noopArgs{N: 1}, nil)
			return err
		}

		boom := errors.New("boom")
		err := d.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			require.NoError(t, write(ctx, tx, "rolled-back"))
			return boom
		})
		require.ErrorIs(t, err, boom)
		require.Zero(t, countKV(t, d, "txtest"))
		require.Zero(t, countJobs(t, d, "test.noop"))

		require.NoError(t, d.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			return write(ctx, tx, "committed")
		}))
		require.Equal(t, 1, countKV(t, d, "txtest"))
		require.Equal(t, 1, countJobs(t, d, "test.noop"))

		// A panic inside the transaction rolls it back and propagates.
		require.Panics(t, func() {
			_ = d.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
				require.NoError(t, write(ctx, tx, "panicked"))
				panic("bug")
			})
		})
		require.Equal(t, 1, countKV(t, d, "txtest"))
		require.Equal(t, 1, countJobs(t, d, "test.noop"))

		// The pool is still usable afterwards (the connection was released).
		require.NoError(t, d.InTx(ctx, func(ctx context.Context, tx *db.Tx) error { return write(ctx, tx, "after") }))
		require.Equal(t, 2, countKV(t, d, "txtest"))
	})
}

// The periodic maintenance job runs on start through the real queue and
// prunes expired rows, recording what it removed.
func TestMaintenanceJobPrunesExpiredRows(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		b := setup(t, d)
		for _, k := range []string{"a", "b", "c"} {
			require.NoError(t, b.kv.Put(ctx, kv.PutParams{Namespace: "maint", Key: k, Value: []byte(k), TTL: time.Minute}))
		}
		require.NoError(t, kv.New(d, nil).Put(ctx, kv.PutParams{Namespace: "maint", Key: "live", Value: []byte("x"), TTL: time.Hour}))
		require.Equal(t, 4, countKV(t, d, "maint"))

		events, cancel := b.q.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
		defer cancel()
		require.NoError(t, b.q.Start(ctx))
		require.True(t, b.q.Running())

		var ev *river.Event
		select {
		case ev = <-events:
		case <-time.After(20 * time.Second):
			t.Fatal("maintenance job did not finish")
		}
		require.Equal(t, river.EventKindJobCompleted, ev.Kind, "job errors: %v", ev.Job.Errors)
		require.Equal(t, "pulse.maintenance", ev.Job.Kind)
		var out map[string]int64
		require.NoError(t, json.Unmarshal(ev.Job.Output(), &out))
		require.Equal(t, int64(3), out["kv"])
		require.Equal(t, 1, countKV(t, d, "maint"), "only the live entry remains")

		stopCtx, stop := context.WithTimeout(ctx, 10*time.Second)
		defer stop()
		require.NoError(t, b.q.Stop(stopCtx))
		require.False(t, b.q.Running())
	})
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 6: 30 * time.Second, 20: 30 * time.Second} {
		for range 50 {
			d := queue.RetryDelay(attempt)
			require.GreaterOrEqual(t, d, want/2, "attempt %d", attempt)
			require.LessOrEqual(t, d, want, "attempt %d", attempt)
		}
	}
}
