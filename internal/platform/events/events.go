// Package events is Pulse's publish/subscribe bus. Every process fans out
// events to its own subscribers through a Hub; a Transport carries them
// between processes: in memory for one process, PostgreSQL LISTEN/NOTIFY or
// Redis pub/sub for many. Durable events get an id and are kept for a short
// replay window, so a client that reconnects with Last-Event-ID misses
// nothing; ephemeral ones (token deltas) are delivered live only.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Event is one thing that happened.
type Event struct {
	// ID orders durable events for replay; empty for ephemeral ones. Its
	// form depends on the transport (a number, or a Redis stream id).
	ID     string          `json:"id,omitempty"`
	Topic  string          `json:"topic"`             // what it is about: "run:<id>", "control", …
	UserID string          `json:"user_id,omitempty"` // whose it is: their subscriptions see it
	Type   Type            `json:"type"`              // what happened: one of the constants in types.go
	Data   json.RawMessage `json:"data"`
	// Ephemeral events are not stored and cannot be replayed.
	Ephemeral bool `json:"ephemeral,omitempty"`
}

// Keys a subscription can listen on.
func UserKey(userID string) string { return "user:" + userID }

// RunKey is the topic of a run's events.
func RunKey(runID string) string { return "run:" + runID }

// ControlTopic carries instructions between processes (e.g. cancel a run);
// it has no user and only internal subscribers.
const ControlTopic = "control"

// Transport moves events between processes. Publish must eventually hand
// every event to deliver in every process, this one included, in the order
// of their ids.
type Transport interface {
	// Publish stores (unless ephemeral) and broadcasts ev, returning its id.
	Publish(ctx context.Context, ev Event) (string, error)
	// Replay returns durable events after the one with id after whose topic
	// is in topics or whose user is in users, oldest first, at most limit.
	Replay(ctx context.Context, p ReplayParams) ([]Event, error)
	// Run receives broadcasts and passes them to deliver until ctx ends.
	Run(ctx context.Context, deliver func(Event)) error
	// Prune forgets durable events older than the replay window.
	Prune(ctx context.Context) (int64, error)
}

// ReplayParams select events to replay.
type ReplayParams struct {
	After  string
	Topics []string
	Users  []string
	Limit  int
}

// Window is how long durable events stay available for replay.
const Window = 10 * time.Minute

// ErrSlowConsumer ends a subscription whose buffer filled: one slow reader
// must not hold up everyone else's events.
var ErrSlowConsumer = errors.New("events: subscriber too slow, buffer full")

// ErrClosed ends subscriptions when the bus shuts down.
var ErrClosed = errors.New("events: bus closed")

// maxNotifyPayload is the largest event PostgreSQL NOTIFY carries inline
// (its limit is 8000 bytes); bigger ones travel as a reference.
const maxNotifyPayload = 7000
