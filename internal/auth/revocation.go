package auth

import (
	"context"
	"strconv"
	"sync"
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

// memRevocations serves revocation checks from memory and persists each
// revocation underneath. It is only correct when this process makes every
// revocation, which holds for an embedded (SQLite) install: one process owns
// the database. It turns the per-request check into a map lookup.
type memRevocations struct {
	store revocations
	now   func() time.Time

	mu      sync.RWMutex
	entries map[string]memRevocation
}

type memRevocation struct{ at, expires time.Time }

func newMemRevocations(ctx context.Context, kvs *kv.Store, now func() time.Time, ttl time.Duration) (*memRevocations, error) {
	m := &memRevocations{store: kvRevocations{kv: kvs}, now: now, entries: map[string]memRevocation{}}
	all, err := kvs.All(ctx, "auth.revoked")
	if err != nil {
		return nil, err
	}
	for k, v := range all {
		us, _ := strconv.ParseInt(string(v), 10, 64)
		// Loaded entries keep the longest lifetime any of them can need.
		m.entries[k] = memRevocation{at: time.UnixMicro(us), expires: now().Add(ttl)}
	}
	return m, nil
}

func (m *memRevocations) revoke(ctx context.Context, key string, at time.Time, ttl time.Duration) error {
	if err := m.store.revoke(ctx, key, at, ttl); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if len(m.entries) > 1024 {
		for k, e := range m.entries {
			if now.After(e.expires) {
				delete(m.entries, k)
			}
		}
	}
	m.entries[key] = memRevocation{at: at, expires: now.Add(ttl)}
	return nil
}

func (m *memRevocations) revokedAt(_ context.Context, keys ...string) (map[string]time.Time, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out map[string]time.Time
	now := m.now()
	for _, k := range keys {
		if e, ok := m.entries[k]; ok && now.Before(e.expires) {
			if out == nil {
				out = map[string]time.Time{}
			}
			out[k] = e.at
		}
	}
	return out, nil
}
