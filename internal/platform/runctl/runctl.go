// Package runctl stops runs wherever they execute. A process registers the
// runs it is executing; a cancel stops the one executing it at once, in
// this process or, relayed over the events bus, in another. A cancel that
// arrives just before its run starts executing here (claimed, not yet
// registered) is remembered for a while and applied when it does.
package runctl

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pulse-run/pulse/internal/platform/events"
)

// memory is how long a cancel for a run not executing here is kept.
const memory = 30 * time.Second

// Handle is one run executing in this process.
type Handle struct {
	cancel    context.CancelFunc
	cancelled atomic.Bool
	lost      atomic.Bool
}

// Cancel stops the run for a user's cancel.
func (h *Handle) Cancel() {
	h.cancelled.Store(true)
	h.cancel()
}

// Lose stops the run because another worker holds it now.
func (h *Handle) Lose() {
	h.lost.Store(true)
	h.cancel()
}

// Cancelled reports whether a user's cancel stopped the run.
func (h *Handle) Cancelled() bool { return h.cancelled.Load() }

// Lost reports whether the run was given up to another worker.
func (h *Handle) Lost() bool { return h.lost.Load() }

// Registry holds the runs of one kind executing in this process.
type Registry struct {
	action  events.Type // the control message that cancels this kind of run
	mu      sync.Mutex
	active  map[string]*Handle
	pending map[string]time.Time // cancels of runs not (yet) executing here

	// handled, when set (by tests, before Listen), is called once the
	// listener has dealt with a control message, whatever its action, so a
	// test can tell "ignored" from "not arrived yet".
	handled func(action events.Type, runID string)
}

// New returns a registry whose cancels travel as control messages named
// action.
func New(action events.Type) *Registry {
	return &Registry{action: action, active: map[string]*Handle{}, pending: map[string]time.Time{}}
}

// Track registers a run as executing here. Its context ends on a cancel;
// done unregisters it.
func (r *Registry) Track(ctx context.Context, id string) (_ context.Context, _ *Handle, done func()) {
	ctx, cancel := context.WithCancel(ctx)
	h := &Handle{cancel: cancel}
	r.mu.Lock()
	r.active[id] = h
	if _, ok := r.pending[id]; ok {
		// The cancel arrived between the claim and now.
		delete(r.pending, id)
		h.Cancel()
	}
	r.mu.Unlock()
	return ctx, h, func() {
		r.mu.Lock()
		if r.active[id] == h {
			delete(r.active, id)
		}
		r.mu.Unlock()
		cancel()
	}
}

// Interrupt cancels a run executing here and reports whether it was;
// otherwise it remembers the cancel for a while.
func (r *Registry) Interrupt(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h, ok := r.active[id]; ok {
		h.Cancel()
		return true
	}
	now := time.Now()
	for k, at := range r.pending {
		if now.Sub(at) > memory {
			delete(r.pending, k)
		}
	}
	r.pending[id] = now
	return false
}

// Executing returns the runs executing here now.
func (r *Registry) Executing() map[string]*Handle {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]*Handle, len(r.active))
	for k, h := range r.active {
		out[k] = h
	}
	return out
}

// message is a cancel relayed to every process.
type message struct {
	Action events.Type `json:"action"`
	RunID  string      `json:"run_id"`
}

// Publisher sends events to every process.
type Publisher interface {
	Publish(ctx context.Context, ev events.Event) (string, error)
}

// Parse reads a relayed cancel: its action and the run it names.
func Parse(data []byte) (action events.Type, runID string, ok bool) {
	var m message
	if json.Unmarshal(data, &m) != nil || m.Action == "" {
		return "", "", false
	}
	return m.Action, m.RunID, true
}

// Relay tells every process to cancel the run.
func (r *Registry) Relay(ctx context.Context, bus Publisher, id string) error {
	data, _ := json.Marshal(message{Action: r.action, RunID: id})
	_, err := bus.Publish(ctx, events.Event{Topic: events.ControlTopic, Type: r.action, Data: data, Ephemeral: true})
	return err
}

// Listen applies relayed cancels of this kind until ctx ends (or the bus
// closes). It subscribes before it returns, so no cancel relayed after
// that is missed; the channel it returns is closed once its goroutine has
// returned, which lets shutdown wait for it.
func (r *Registry) Listen(ctx context.Context, bus *events.Bus) <-chan struct{} {
	sub := bus.Subscribe([]string{events.ControlTopic}, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Follow(ctx, sub, func(action events.Type, id string) {
			if action == r.action {
				r.Interrupt(id)
			}
			if r.handled != nil {
				r.handled(action, id)
			}
		})
	}()
	return done
}

// Follow hands each relayed cancel on sub to apply until ctx ends or sub
// does, then closes sub. It returns when it stops, so a caller can wait
// for it.
func Follow(ctx context.Context, sub *events.Sub, apply func(action events.Type, runID string)) {
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.Done():
			return
		case ev := <-sub.C():
			if action, id, ok := Parse(ev.Data); ok {
				apply(action, id)
			}
		}
	}
}
