// Package ratelimit limits how often a key (an IP, an account) may do
// something, with the generic cell rate algorithm (GCRA): smooth, with a
// burst allowance, and stateless apart from one timestamp per key. Memory is
// the embedded default; Redis (redis_rate, the same algorithm in Lua) shares
// the limits across processes.
package ratelimit

import (
	"context"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Limit allows Rate events per Period, with bursts of up to Burst.
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// PerMinute allows n a minute with a burst of n.
func PerMinute(n int) Limit { return Limit{Rate: n, Period: time.Minute, Burst: n} }

// Result says whether an event was allowed and how the key stands.
type Result struct {
	Allowed    bool
	Limit      Limit
	Remaining  int
	RetryAfter time.Duration // when not allowed: how long until one event fits
	ResetAfter time.Duration // how long until the key is back to a full burst
}

// Limiter counts n events for key against l. n = 0 reads the state without
// counting.
type Limiter interface {
	AllowN(ctx context.Context, key string, l Limit, n int) (Result, error)
}

// Redis is a Limiter shared by every process using the same Redis.
type Redis struct {
	l      *redis_rate.Limiter
	prefix string
}

var _ Limiter = (*Redis)(nil)

// NewRedis returns a Redis-backed limiter whose keys start with prefix.
func NewRedis(c *redis.Client, prefix string) *Redis {
	return &Redis{l: redis_rate.NewLimiter(c), prefix: prefix + "rl:"}
}

// AllowN implements Limiter.
func (r *Redis) AllowN(ctx context.Context, key string, l Limit, n int) (Result, error) {
	res, err := r.l.AllowN(ctx, r.prefix+key, redis_rate.Limit{Rate: l.Rate, Period: l.Period, Burst: l.Burst}, n)
	if err != nil {
		return Result{}, err
	}
	allowed := res.Allowed >= n && res.RetryAfter < 0
	if n == 0 {
		allowed = res.Remaining > 0
	}
	out := Result{Allowed: allowed, Limit: l, Remaining: res.Remaining, ResetAfter: res.ResetAfter}
	if res.RetryAfter > 0 {
		out.RetryAfter = res.RetryAfter
	}
	return out, nil
}
