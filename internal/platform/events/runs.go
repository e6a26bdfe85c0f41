package events

import (
	"context"
	"encoding/json"
)

// Publisher sends events to every process (the Bus implements it).
type Publisher interface {
	Publish(ctx context.Context, ev Event) (string, error)
}

// RunEvent is one event of a run (an agent run, a workflow run) for its
// owner.
type RunEvent struct {
	RunID, OwnerID string
	Type           Type
	Data           any // encoded as JSON
	Ephemeral      bool
}

// PublishRun sends a run's event on its topic, best effort: a run never
// fails because nobody could be told, so errors are dropped, and the event
// outlives a cancelled run context. A nil p publishes nothing.
func PublishRun(ctx context.Context, p Publisher, e RunEvent) {
	if p == nil {
		return
	}
	b, err := json.Marshal(e.Data)
	if err != nil {
		return
	}
	_, _ = p.Publish(context.WithoutCancel(ctx), Event{Topic: RunKey(e.RunID), UserID: e.OwnerID, Type: e.Type, Data: b, Ephemeral: e.Ephemeral})
}
