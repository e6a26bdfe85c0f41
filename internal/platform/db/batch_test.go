package db_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
)

func TestBatcherGroupsWritesAndIsolatesFailures(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		_, err := d.W.NewRaw("CREATE TABLE batch_t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)").Exec(ctx)
		require.NoError(t, err)
		b := db.NewBatcher(d)
		const n = 300
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				errs[i] = b.Do(ctx, func(ctx context.Context, tx *db.Tx) error {
					if i%50 == 7 {
						// A duplicate key: fails only this write.
						_, err := tx.NewRaw("INSERT INTO batch_t (id, v) VALUES (?, 'dup'), (?, 'dup')", 100000+i, 100000+i).Exec(ctx)
						return err
					}
					if i%50 == 9 {
						return errors.New("refused")
					}
					_, err := tx.NewRaw("INSERT INTO batch_t (id, v) VALUES (?, ?)", i, fmt.Sprint(i)).Exec(ctx)
					return err
				})
			})
		}
		wg.Wait()
		failed := 0
		for i, err := range errs {
			if i%50 == 7 || i%50 == 9 {
				require.Error(t, err, i)
				failed++
				continue
			}
			require.NoError(t, err, i)
		}
		var count int
		require.NoError(t, d.R.NewRaw("SELECT count(*) FROM batch_t").Scan(ctx, &count))
		require.Equal(t, n-failed, count, "every other write committed, once")

		b.Close()
		require.NoError(t, b.Do(ctx, func(ctx context.Context, tx *db.Tx) error {
			_, err := tx.NewRaw("INSERT INTO batch_t (id, v) VALUES (-1, 'after close')").Exec(ctx)
			return err
		}), "a closed batcher still writes, alone")
	})
}

// groupBundle holds a batcher and two tables, one of runs and one of
// their steps.
type groupBundle struct {
	d *db.DB
	b *db.Batcher
}

func setupGroup(t *testing.T, d *db.DB) *groupBundle {
	t.Helper()
	ctx := context.Background()
	_, err := d.W.NewRaw("CREATE TABLE grp_run (id INTEGER PRIMARY KEY, owner TEXT NOT NULL)").Exec(ctx)
	require.NoError(t, err)
	_, err = d.W.NewRaw("CREATE TABLE grp_step (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, n INTEGER NOT NULL)").Exec(ctx)
	require.NoError(t, err)
	tb := &groupBundle{d: d, b: db.NewBatcher(d)}
	t.Cleanup(tb.b.Close)
	return tb
}

// group runs n writes as one group: one write per committer keeps them
// all busy while the n are queued, then the first lets them go together
// to its committer. It returns each write's error.
func (tb *groupBundle) group(t *testing.T, n int, fn func(i int, ctx context.Context, tx *db.Tx) error) []error {
	t.Helper()
	ctx := context.Background()
	k := tb.b.Committers()
	releases, firsts := make([]chan struct{}, k), make(chan error, k)
	for c := range k {
		started, release := make(chan struct{}), make(chan struct{})
		releases[c] = release
		go func() {
			firsts <- tb.b.Do(ctx, func(ctx context.Context, tx *db.Tx) error {
				close(started)
				<-release
				return nil
			})
		}()
		<-started // this committer is busy: the next write goes to another
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = tb.b.Do(ctx, func(ctx context.Context, tx *db.Tx) error { return fn(i, ctx, tx) })
		})
	}
	for tb.b.Queued() < n {
		runtime.Gosched() // every write queued: they form one group
	}
	close(releases[0])
	require.NoError(t, <-firsts)
	wg.Wait()
	for _, r := range releases[1:] {
		close(r)
		require.NoError(t, <-firsts)
	}
	return errs
}

// A group whose writes each move a row they hold and store two more, as a
// workflow checkpoint does: on PostgreSQL its statements are pipelined, a
// write still sees its own statements' results (rows affected), one that
// reads or takes the engine's transaction still works, and everything
// commits once.
func TestBatcherPipelinesAGroup(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		tb := setupGroup(t, d)
		ctx := context.Background()
		const n = 200
		for i := range n {
			owner := "me"
			if i%10 == 3 {
				owner = "other" // the write finds it does not hold this run
			}
			_, err := d.W.NewRaw("INSERT INTO grp_run (id, owner) VALUES (?, ?)", i, owner).Exec(ctx)
			require.NoError(t, err)
		}
		moved := make([]bool, n)
		errs := tb.group(t, n, func(i int, ctx context.Context, tx *db.Tx) error {
			res, err := tx.NewRaw("UPDATE grp_run SET owner = 'me' WHERE id = ? AND owner = 'me'", i).Exec(ctx)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k != 1 {
				return nil // not ours: nothing written
			}
			moved[i] = true
			switch i % 10 {
			case 5: // reads inside its transaction
				var c int
				var owner string
				var one bool
				if err := tx.NewRaw("SELECT count(*), max(owner), count(*) = 1 FROM grp_run WHERE id = ?", i).Scan(ctx, &c, &owner, &one); err != nil ||
					c != 1 || owner != "me" || !one {
					return fmt.Errorf("read %d %q %v: %v", c, owner, one, err)
				}
			case 7: // uses the engine's transaction, as the job queue does
				var err error
				if tx.PgxTx() != nil {
					_, err = tx.PgxTx().Exec(ctx, "INSERT INTO grp_step (id, run_id, n) VALUES ($1, $2, 0)", 100000+i, i)
				} else {
					_, err = tx.SQLTx().ExecContext(ctx, "INSERT INTO grp_step (id, run_id, n) VALUES (?, ?, 0)", 100000+i, i)
				}
				if err != nil {
					return err
				}
			}
			if _, err := tx.NewRaw("INSERT INTO grp_step (id, run_id, n) VALUES (?, ?, 1)", 2*i, i).Exec(ctx); err != nil {
				return err
			}
			_, err = tx.NewRaw("INSERT INTO grp_step (id, run_id, n) VALUES (?, ?, 2)", 2*i+1, i).Exec(ctx)
			return err
		})
		want := 0
		for i, err := range errs {
			require.NoError(t, err, i)
			require.Equal(t, i%10 != 3, moved[i], i)
			if moved[i] {
				want += 2
				if i%10 == 7 {
					want++
				}
			}
		}
		var count int
		require.NoError(t, d.R.NewRaw("SELECT count(*) FROM grp_step").Scan(ctx, &count))
		require.Equal(t, want, count, "every write's rows, once")
		st := tb.b.Stats()
		require.Equal(t, db.BatchStats{Groups: 1, Writes: n, Rounds: st.Rounds}, st, "one group")
		if d.Engine == config.Postgres {
			// 200 writes of three statements: three rounds, plus one or
			// two for writes that waited on one that held the connection.
			require.LessOrEqual(t, st.Rounds, int64(8), "statements pipelined")
			require.GreaterOrEqual(t, st.Rounds, int64(3))
		}
	})
}

// In a pipelined group, one write's failure (a statement's error, or its
// own) reaches only that write: the group rolls back and each write is
// retried alone.
func TestBatcherPipelinedGroupIsolatesFailures(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		tb := setupGroup(t, d)
		ctx := context.Background()
		const n = 150
		var mu sync.Mutex
		tries := map[int]int{}
		errs := tb.group(t, n, func(i int, ctx context.Context, tx *db.Tx) error {
			mu.Lock()
			tries[i]++
			mu.Unlock()
			if _, err := tx.NewRaw("INSERT INTO grp_step (id, run_id, n) VALUES (?, ?, 1)", 2*i, i).Exec(ctx); err != nil {
				return err
			}
			switch i {
			case 40: // a duplicate key on its second statement
				_, err := tx.NewRaw("INSERT INTO grp_step (id, run_id, n) VALUES (?, ?, 2)", 2*i, i).Exec(ctx)
				return err
			case 90:
				return errors.New("refused")
			}
			_, err := tx.NewRaw("INSERT INTO grp_step (id, run_id, n) VALUES (?, ?, 2)", 2*i+1, i).Exec(ctx)
			return err
		})
		for i, err := range errs {
			if i == 40 || i == 90 {
				require.Error(t, err, i)
				continue
			}
			require.NoError(t, err, i)
			if d.Engine == config.Postgres {
				// The group's writes run together, so all ran in it.
				require.Equal(t, 2, tries[i], "run in the group, then alone: %d", i)
			}
			require.LessOrEqual(t, tries[i], 2, i)
		}
		require.ErrorContains(t, errs[90], "refused")
		require.True(t, db.IsUniqueViolation(errs[40]), errs[40])
		var count int
		require.NoError(t, d.R.NewRaw("SELECT count(*) FROM grp_step").Scan(ctx, &count))
		require.Equal(t, 2*(n-2), count, "the others' rows, once; none of the failed writes'")
		require.Zero(t, tb.b.Stats().Groups, "the group did not commit")
	})
}
