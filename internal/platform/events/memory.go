package events

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Memory is the transport of a single process: events go straight to the
// hub, and the last ones are kept in a ring for replay.
type Memory struct {
	mu      sync.Mutex
	seq     uint64
	ring    []stored // oldest first, at most capacity
	cap     int
	now     func() time.Time
	deliver func(Event)
}

type stored struct {
	ev  Event
	seq uint64
	at  time.Time
}

var _ Transport = (*Memory)(nil)

// NewMemory keeps up to capacity events (default 10,000) for replay.
func NewMemory(capacity int) *Memory {
	if capacity <= 0 {
		capacity = 10_000
	}
	return &Memory{cap: capacity, now: time.Now}
}

// Publish implements Transport. Delivery happens under the lock, so
// subscribers see events in id order.
func (m *Memory) Publish(_ context.Context, ev Event) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !ev.Ephemeral {
		m.seq++
		ev.ID = strconv.FormatUint(m.seq, 10)
		if len(m.ring) == m.cap {
			m.ring = slices.Delete(m.ring, 0, m.cap/10+1)
		}
		m.ring = append(m.ring, stored{ev: ev, seq: m.seq, at: m.now()})
	}
	if m.deliver != nil {
		m.deliver(ev)
	}
	return ev.ID, nil
}

// Replay implements Transport.
func (m *Memory) Replay(_ context.Context, p ReplayParams) ([]Event, error) {
	after, _ := strconv.ParseUint(p.After, 10, 64)
	limit := p.Limit
	if limit <= 0 {
		limit = 1000
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cutoff := m.now().Add(-Window)
	var out []Event
	for _, s := range m.ring {
		if s.seq <= after || s.at.Before(cutoff) {
			continue
		}
		if slices.Contains(p.Topics, s.ev.Topic) || (s.ev.UserID != "" && slices.Contains(p.Users, s.ev.UserID)) {
			out = append(out, s.ev)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

// Bind sets where events go; the bus calls it before Start returns, so no
// event published after Start is lost.
func (m *Memory) Bind(deliver func(Event)) {
	m.mu.Lock()
	m.deliver = deliver
	m.mu.Unlock()
}

// Run implements Transport.
func (m *Memory) Run(ctx context.Context, deliver func(Event)) error {
	m.Bind(deliver)
	<-ctx.Done()
	m.Bind(nil)
	return ctx.Err()
}

// Prune implements Transport.
func (m *Memory) Prune(context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cutoff := m.now().Add(-Window)
	i := 0
	for i < len(m.ring) && m.ring[i].at.Before(cutoff) {
		i++
	}
	m.ring = slices.Delete(m.ring, 0, i)
	return int64(i), nil
}
