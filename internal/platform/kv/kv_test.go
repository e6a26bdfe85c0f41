package kv_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/kv"
)

// fakeClock is advanced by tests so expiry needs no sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type testBundle struct {
	store *kv.Store
	clock *fakeClock
}

func setup(t *testing.T, d *db.DB) *testBundle {
	t.Helper()
	c := &fakeClock{t: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	return &testBundle{store: kv.New(d, c.Now), clock: c}
}

func TestStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Run("PutGetReplaceDelete", func(t *testing.T) {
			b := setup(t, d)
			require.NoError(t, b.store.Put(ctx, kv.PutParams{Namespace: "a", Key: "k1", Value: []byte("v1")}))
			got, err := b.store.Get(ctx, "a", "k1")
			require.NoError(t, err)
			require.Equal(t, []byte("v1"), got)

			require.NoError(t, b.store.Put(ctx, kv.PutParams{Namespace: "a", Key: "k1", Value: []byte("v2")}))
			got, err = b.store.Get(ctx, "a", "k1")
			require.NoError(t, err)
			require.Equal(t, []byte("v2"), got)

			_, err = b.store.Get(ctx, "other", "k1")
			require.True(t, apperr.Is(err, apperr.NotFound), "namespaces are separate: %v", err)

			require.NoError(t, b.store.Delete(ctx, "a", "k1"))
			_, err = b.store.Get(ctx, "a", "k1")
			require.True(t, apperr.Is(err, apperr.NotFound))
		})

		t.Run("ExpiryHidesThenPrunes", func(t *testing.T) {
			b := setup(t, d)
			require.NoError(t, b.store.Put(ctx, kv.PutParams{Namespace: "exp", Key: "short", Value: []byte("x"), TTL: time.Minute}))
			require.NoError(t, b.store.Put(ctx, kv.PutParams{Namespace: "exp", Key: "long", Value: []byte("y"), TTL: time.Hour}))
			require.NoError(t, b.store.Put(ctx, kv.PutParams{Namespace: "exp", Key: "forever", Value: []byte("z")}))

			b.clock.Advance(2 * time.Minute)
			_, err := b.store.Get(ctx, "exp", "short")
			require.True(t, apperr.Is(err, apperr.NotFound), "expired entry must be invisible: %v", err)

			n, err := b.store.PruneExpired(ctx, 100)
			require.NoError(t, err)
			require.EqualValues(t, 1, n)

			_, err = b.store.Get(ctx, "exp", "long")
			require.NoError(t, err)
			_, err = b.store.Get(ctx, "exp", "forever")
			require.NoError(t, err)
		})

		t.Run("PruneInBatches", func(t *testing.T) {
			b := setup(t, d)
			for _, k := range []string{"1", "2", "3", "4", "5"} {
				require.NoError(t, b.store.Put(ctx, kv.PutParams{Namespace: "batch", Key: k, Value: []byte(k), TTL: time.Second}))
			}
			b.clock.Advance(time.Minute)
			n, err := b.store.PruneExpired(ctx, 2)
			require.NoError(t, err)
			require.EqualValues(t, 2, n)
			n, err = b.store.PruneExpired(ctx, 10)
			require.NoError(t, err)
			require.EqualValues(t, 3, n)
		})

		t.Run("TakeIsSingleUseAndInTx", func(t *testing.T) {
			b := setup(t, d)
			require.NoError(t, b.store.Put(ctx, kv.PutParams{Namespace: "take", Key: "t1", Value: []byte("v"), TTL: time.Hour}))
			got, err := b.store.Take(ctx, "take", "t1")
			require.NoError(t, err)
			require.Equal(t, []byte("v"), got)
			_, err = b.store.Take(ctx, "take", "t1")
			require.True(t, apperr.Is(err, apperr.NotFound), "second take: %v", err)

			require.NoError(t, b.store.Put(ctx, kv.PutParams{Namespace: "take", Key: "old", Value: []byte("v"), TTL: time.Minute}))
			b.clock.Advance(2 * time.Minute)
			_, err = b.store.Take(ctx, "take", "old")
			require.True(t, apperr.Is(err, apperr.NotFound), "an expired entry cannot be taken")

			// Writes through With(tx) commit or roll back with tx.
			require.Error(t, d.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
				require.NoError(t, b.store.With(tx).Put(ctx, kv.PutParams{Namespace: "take", Key: "tx", Value: []byte("v")}))
				return errors.New("rollback")
			}))
			_, err = b.store.Get(ctx, "take", "tx")
			require.True(t, apperr.Is(err, apperr.NotFound))
			require.NoError(t, d.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
				return b.store.With(tx).Put(ctx, kv.PutParams{Namespace: "take", Key: "tx", Value: []byte("v")})
			}))
			_, err = b.store.Get(ctx, "take", "tx")
			require.NoError(t, err)
		})

		t.Run("CreateIsOnceOnlyUntilExpired", func(t *testing.T) {
			b := setup(t, d)
			p := kv.PutParams{Namespace: "claim", Key: "job-1", Value: []byte("first"), TTL: time.Minute}
			require.NoError(t, b.store.Create(ctx, p))
			p.Value = []byte("second")
			err := b.store.Create(ctx, p)
			require.True(t, apperr.Is(err, apperr.Conflict), "got %v", err)

			b.clock.Advance(2 * time.Minute)
			require.NoError(t, b.store.Create(ctx, p), "an expired claim can be taken again")
			got, err := b.store.Get(ctx, "claim", "job-1")
			require.NoError(t, err)
			require.Equal(t, []byte("second"), got)
		})
	})
}
