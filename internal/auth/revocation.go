package auth

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pulse-run/pulse/internal/platform/kv"
)

// revocations remembers, for one access-token lifetime, which access tokens
// (jti), sessions (sid) and users were revoked and when, so that a signed,
// unexpired token can still be refused at once. After that lifetime the
// tokens have expired anyway. It lives in the database, or in Redis when one
// is configured.
type revocations interface {
	revoke(ctx context.Context, key string, at time.Time, ttl time.Duration) error
	revokedAt(ctx context.Context, keys ...string) (map[string]time.Time, error)
}

func revokeKey(kind, id string) string { return kind + ":" + id }

type kvRevocations struct{ kv *kv.Store }

func (r kvRevocations) revoke(ctx context.Context, key string, at time.Time, ttl time.Duration) error {
	return r.kv.Put(ctx, kv.PutParams{Namespace: "auth.revoked", Key: key, Value: []byte(strconv.FormatInt(at.UnixMicro(), 10)), TTL: ttl})
}

func (r kvRevocations) revokedAt(ctx context.Context, keys ...string) (map[string]time.Time, error) {
	m, err := r.kv.GetMany(ctx, "auth.revoked", keys...)
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(m))
	for k, v := range m {
		us, _ := strconv.ParseInt(string(v), 10, 64)
		out[k] = time.UnixMicro(us)
	}
	return out, nil
}

type redisRevocations struct {
	c      *redis.Client
	prefix string
}

func (r redisRevocations) revoke(ctx context.Context, key string, at time.Time, ttl time.Duration) error {
	return r.c.Set(ctx, r.prefix+"revoked:"+key, at.UnixMicro(), ttl).Err()
}

func (r redisRevocations) revokedAt(ctx context.Context, keys ...string) (map[string]time.Time, error) {
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.prefix + "revoked:" + k
	}
	vals, err := r.c.MGet(ctx, full...).Result()
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for i, v := range vals {
		if s, ok := v.(string); ok {
			us, _ := strconv.ParseInt(s, 10, 64)
			out[keys[i]] = time.UnixMicro(us)
		}
	}
	return out, nil
}
