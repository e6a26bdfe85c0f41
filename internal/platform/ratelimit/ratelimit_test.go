package ratelimit_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/platform/ratelimit"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// conformance runs the same expectations on every implementation. advance
// moves time forward (a fake clock for memory, a real sleep for Redis).
func conformance(t *testing.T, l ratelimit.Limiter, advance func(time.Duration)) {
	ctx := context.Background()
	key := "test:" + ids.New()
	lim := ratelimit.Limit{Rate: 5, Period: time.Second, Burst: 5}

	peek, err := l.AllowN(ctx, key, lim, 0)
	require.NoError(t, err)
	require.True(t, peek.Allowed)
	require.Equal(t, 5, peek.Remaining)

	for i := range 5 {
		r, err := l.AllowN(ctx, key, lim, 1)
		require.NoError(t, err)
		require.True(t, r.Allowed, "event %d", i)
		require.Equal(t, 4-i, r.Remaining)
	}
	r, err := l.AllowN(ctx, key, lim, 1)
	require.NoError(t, err)
	require.False(t, r.Allowed, "the sixth in a burst of five is refused")
	require.Equal(t, 0, r.Remaining)
	require.Greater(t, r.RetryAfter, time.Duration(0))
	require.LessOrEqual(t, r.RetryAfter, 200*time.Millisecond)

	peek, err = l.AllowN(ctx, key, lim, 0)
	require.NoError(t, err)
	require.False(t, peek.Allowed, "a peek sees the exhausted key")

	other, err := l.AllowN(ctx, key+":other", lim, 1)
	require.NoError(t, err)
	require.True(t, other.Allowed, "keys are independent")

	advance(210 * time.Millisecond) // one interval (200 ms) later, one fits again
	r, err = l.AllowN(ctx, key, lim, 1)
	require.NoError(t, err)
	require.True(t, r.Allowed)
}

func TestMemory(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	conformance(t, ratelimit.NewMemory(c.now), c.advance)
}

func TestRedis(t *testing.T) {
	t.Parallel()
	url := os.Getenv("PULSE_TEST_REDIS_URL")
	if url == "" {
		t.Skip("PULSE_TEST_REDIS_URL is not set")
	}
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	c := redis.NewClient(opts)
	defer c.Close()
	conformance(t, ratelimit.NewRedis(c, "test:"+ids.New()+":"), time.Sleep)
}
