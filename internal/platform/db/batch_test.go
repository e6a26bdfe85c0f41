package db_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

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
