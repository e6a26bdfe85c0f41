package workflow

import (
	"context"
	"encoding/json"

	"github.com/riverqueue/river"

	"github.com/pulse-run/pulse/internal/platform/durable"
)

// DispatchArgs is the job that dispatches a platform event raised outside
// this package (an agent run that ended) to the owner's event triggers.
// The event's source only needs the queue, not this service, so it can be
// built before it: workflows' agent nodes need the run service, which
// raises these events.
type DispatchArgs struct {
	OwnerID string          `json:"owner_id"`
	Event   string          `json:"event"`
	Data    json.RawMessage `json:"data"`
	// Chain is the trigger chain of the context that raised the event
	// (ChainOf): loops are refused across the queue as they are in place.
	Chain []string `json:"chain,omitempty"`
}

// Kind implements river.JobArgs.
func (DispatchArgs) Kind() string { return "workflow_dispatch" }

// InsertOpts: an event is dispatched at most once, as when it was
// dispatched in place (a retry could start the triggered runs twice).
func (DispatchArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 1} }

// dispatchKind dispatches queued platform events: a kind of the durable
// core, so it has the core's worker defaults and panic handling.
func (s *Service) dispatchKind() durable.Kind[DispatchArgs] {
	return durable.Kind[DispatchArgs]{Work: s.dispatchQueued}
}

func (s *Service) dispatchQueued(ctx context.Context, job *river.Job[DispatchArgs]) error {
	var data any
	if len(job.Args.Data) > 0 {
		if err := json.Unmarshal(job.Args.Data, &data); err != nil {
			return err
		}
	}
	if len(job.Args.Chain) > 0 {
		ctx = WithChain(ctx, job.Args.Chain)
	}
	_, err := s.Dispatch(ctx, job.Args.OwnerID, job.Args.Event, data, "")
	return err
}
