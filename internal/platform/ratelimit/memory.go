package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Memory is an in-process Limiter: the embedded default.
type Memory struct {
	now func() time.Time

	mu    sync.Mutex
	tat   map[string]time.Time // theoretical arrival time per key
	calls int
}

var _ Limiter = (*Memory)(nil)

// NewMemory returns an in-process limiter; now is time.Now outside tests.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, tat: map[string]time.Time{}}
}

// AllowN implements Limiter with GCRA, as redis_rate does.
func (m *Memory) AllowN(_ context.Context, key string, l Limit, n int) (Result, error) {
	interval := l.Period / time.Duration(l.Rate) // one event's share of the period
	tolerance := interval * time.Duration(l.Burst)
	now := m.now()

	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	tat := m.tat[key]
	if tat.Before(now) {
		tat = now
	}
	newTat := tat.Add(interval * time.Duration(n))
	allowAt := newTat.Add(-tolerance)
	res := Result{Limit: l}
	if diff := now.Sub(allowAt); diff < 0 {
		// Not allowed: report the state without counting.
		res.RetryAfter = -diff
		if n == 0 {
			res.RetryAfter = 0
		}
		res.Remaining = max(0, int(now.Sub(tat.Add(-tolerance))/interval))
		res.ResetAfter = tat.Sub(now)
		return res, nil
	}
	res.Remaining = int(now.Sub(allowAt) / interval)
	res.Allowed = n > 0 || res.Remaining > 0
	if n > 0 {
		m.tat[key] = newTat
	}
	res.ResetAfter = newTat.Sub(now)
	return res, nil
}

// sweep drops keys whose state has fully recovered, now and then, so the map
// does not grow with every address that ever called.
func (m *Memory) sweep(now time.Time) {
	m.calls++
	if m.calls%1024 != 0 {
		return
	}
	for k, t := range m.tat {
		if t.Before(now) {
			delete(m.tat, k)
		}
	}
}
