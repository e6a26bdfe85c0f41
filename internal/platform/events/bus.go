package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Bus publishes through a Transport and fans received events out to this
// process's subscribers.
type Bus struct {
	t   Transport
	log *slog.Logger

	mu     sync.RWMutex
	subs   map[string]map[*Sub]struct{} // key -> subscribers
	closed bool

	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a bus on t; Start begins receiving.
func New(t Transport, log *slog.Logger) *Bus {
	if log == nil {
		log = slog.New(slog.DiscardHandler) // nil logs nothing: the caller injects its logger
	}
	return &Bus{t: t, log: log, subs: map[string]map[*Sub]struct{}{}}
}

// Start receives events from other processes until Close, reconnecting
// with backoff when the transport fails.
func (b *Bus) Start(ctx context.Context) {
	ctx, b.cancel = context.WithCancel(context.WithoutCancel(ctx))
	b.done = make(chan struct{})
	if m, ok := b.t.(interface{ Bind(func(Event)) }); ok {
		m.Bind(b.deliver)
	}
	go func() {
		defer close(b.done)
		wait := 100 * time.Millisecond
		for {
			start := time.Now()
			err := b.t.Run(ctx, b.deliver)
			if ctx.Err() != nil {
				return
			}
			if time.Since(start) > time.Minute {
				wait = 100 * time.Millisecond
			}
			b.log.Warn("events: transport stopped; reconnecting", "err", err, "in", wait.String())
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, 5*time.Second)
		}
	}()
}

// Publish sends ev to every subscriber in every process and returns its id
// (empty for an ephemeral event).
func (b *Bus) Publish(ctx context.Context, ev Event) (string, error) {
	return b.t.Publish(ctx, ev)
}

// Replay returns the durable events after id that keys would have
// received, oldest first.
func (b *Bus) Replay(ctx context.Context, after string, keys []string, limit int) ([]Event, error) {
	p := ReplayParams{After: after, Limit: limit}
	for _, k := range keys {
		if u, ok := strings.CutPrefix(k, "user:"); ok {
			p.Users = append(p.Users, u)
		} else {
			p.Topics = append(p.Topics, k)
		}
	}
	return b.t.Replay(ctx, p)
}

// Prune forgets events past the replay window (a periodic job calls it).
func (b *Bus) Prune(ctx context.Context) (int64, error) { return b.t.Prune(ctx) }

// Subscribe listens on keys (a topic, or UserKey for everything of a user)
// with room for buffer undelivered events.
func (b *Bus) Subscribe(keys []string, buffer int) *Sub {
	return b.SubscribeNotify(keys, buffer, nil)
}

// SubscribeNotify is Subscribe for readers without a goroutine of their
// own: notify is called (from the publishing goroutine: it must not block)
// after each event is queued and when the subscription ends, so the
// reader can start one to drain C.
func (b *Bus) SubscribeNotify(keys []string, buffer int, notify func()) *Sub {
	s := &Sub{b: b, c: make(chan *Delivered, max(buffer, 1)), done: make(chan struct{}), keys: map[string]bool{}, notify: notify}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		s.once.Do(func() { s.end(ErrClosed) })
		return s
	}
	for _, k := range keys {
		b.add(s, k)
	}
	return s
}

func (b *Bus) add(s *Sub, key string) {
	if s.keys[key] {
		return
	}
	s.keys[key] = true
	set := b.subs[key]
	if set == nil {
		set = map[*Sub]struct{}{}
		b.subs[key] = set
	}
	set[s] = struct{}{}
}

func (b *Bus) remove(s *Sub, key string) {
	if !s.keys[key] {
		return
	}
	delete(s.keys, key)
	if set := b.subs[key]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(b.subs, key)
		}
	}
}

// deliver hands ev to each matching subscriber without ever blocking: a
// subscriber whose buffer is full is dropped.
func (b *Bus) deliver(e Event) {
	// Every subscriber gets the same pointer: 10,000 subscribers cost
	// 10,000 pointer sends, not 10,000 copies, and one encoding (Wire).
	// Nobody may modify it.
	ev := &Delivered{Event: e}
	var slow []*Sub
	b.mu.RLock()
	for s := range b.subs[ev.Topic] {
		if !s.offer(ev) {
			slow = append(slow, s)
		}
	}
	if ev.UserID != "" {
		for s := range b.subs[UserKey(ev.UserID)] {
			if s.keys[ev.Topic] {
				continue // had it through the topic
			}
			if !s.offer(ev) {
				slow = append(slow, s)
			}
		}
	}
	b.mu.RUnlock()
	for _, s := range slow {
		s.fail(ErrSlowConsumer)
	}
}

// Subscribers counts this process's subscriptions (for metrics).
func (b *Bus) Subscribers() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	seen := map[*Sub]struct{}{}
	for _, set := range b.subs {
		for s := range set {
			seen[s] = struct{}{}
		}
	}
	return len(seen)
}

// Close stops receiving and ends every subscription with ErrClosed.
func (b *Bus) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	var all []*Sub
	for _, set := range b.subs {
		for s := range set {
			all = append(all, s)
		}
	}
	b.mu.Unlock()
	for _, s := range all {
		s.fail(ErrClosed)
	}
	if b.cancel != nil {
		b.cancel()
		<-b.done
	}
}

// Sub is one subscription. Read C until Done is closed; Err says why it
// ended.
type Sub struct {
	b    *Bus
	c    chan *Delivered
	done chan struct{}
	once sync.Once
	err  error
	keys map[string]bool // guarded by b.mu

	notify func() // nil: the reader waits on C
}

// C delivers the events. They are shared with other subscribers: read
// them, never change them.
func (s *Sub) C() <-chan *Delivered { return s.c }

// Done is closed when the subscription ends.
func (s *Sub) Done() <-chan struct{} { return s.done }

// Err is why the subscription ended: nil while it lasts or after Close,
// ErrSlowConsumer or ErrClosed otherwise.
func (s *Sub) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Add listens on one more key.
func (s *Sub) Add(key string) {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if s.Err() == nil {
		s.b.add(s, key)
	}
}

// Remove stops listening on key.
func (s *Sub) Remove(key string) {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.remove(s, key)
}

// Keys lists what the subscription listens on.
func (s *Sub) Keys() []string {
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	out := make([]string, 0, len(s.keys))
	for k := range s.keys {
		out = append(out, k)
	}
	return out
}

// Close ends the subscription.
func (s *Sub) Close() { s.fail(nil) }

func (s *Sub) offer(ev *Delivered) bool {
	select {
	case s.c <- ev:
		if s.notify != nil {
			s.notify()
		}
		return true
	default:
		return false
	}
}

func (s *Sub) fail(err error) {
	s.once.Do(func() {
		s.b.mu.Lock()
		for k := range s.keys {
			s.b.remove(s, k)
		}
		s.b.mu.Unlock()
		s.end(err)
	})
}

func (s *Sub) end(err error) {
	s.err = err
	close(s.done)
	if s.notify != nil {
		s.notify()
	}
}

// Delivered is an event as this process's subscribers receive it, shared
// between them.
type Delivered struct {
	Event
	once sync.Once
	wire []byte
}

// Wire is the event as clients see it, encoded once however many
// subscribers send it.
func (d *Delivered) Wire() []byte {
	d.once.Do(func() { d.wire = Wire(d.Event) })
	return d.wire
}

// Wire encodes an event as clients see it: {id, topic, type, data}.
func Wire(ev Event) []byte {
	data := ev.Data
	if len(data) == 0 {
		data = json.RawMessage(`null`)
	}
	b, _ := json.Marshal(struct {
		ID    string          `json:"id,omitempty"`
		Topic string          `json:"topic"`
		Type  Type            `json:"type"`
		Data  json.RawMessage `json:"data"`
	}{ev.ID, ev.Topic, ev.Type, data})
	return b
}
