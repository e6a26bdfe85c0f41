package workflow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/ratelimit"
)

// MaxTriggerDepth bounds a trigger chain: a run may follow from the
// events of at most this many runs in a row (A's completion starts B,
// B's starts C...). Longer chains, and any cycle, are refused.
const MaxTriggerDepth = 5

// EventFiringLimit caps how often one event trigger starts a run. The
// trigger chain stops loops that Pulse can follow; this stops the ones it
// cannot: a run whose http node posts to Pulse's own /events (the chain
// does not travel over HTTP) would otherwise loop forever.
var EventFiringLimit = ratelimit.Limit{Rate: 120, Period: time.Minute, Burst: 120}

// Accounts says whether a user's account is active. A deactivated user's
// triggers start nothing.
type Accounts interface {
	Active(ctx context.Context, userID string) (bool, error)
}

// A trigger chain is the workflows of the runs whose events led to a run,
// oldest first. It is stored on the run (a queued run continues
// elsewhere) and carried in the context while the run executes, so that
// everything the run causes — its own end, its agent nodes' runs, its
// subworkflows — passes it on.
type chainKey struct{}

// withChain is ctx for executing a run: its chain and its own workflow.
func withChain(ctx context.Context, r *Run) context.Context {
	chain := append(slices.Clone(r.TriggerChain.V), r.WorkflowID)
	return context.WithValue(ctx, chainKey{}, chain)
}

// ChainOf is the trigger chain of whatever a context's run causes (nil
// outside a workflow run). Events from agent runs that a workflow's agent
// node started carry it through this.
func ChainOf(ctx context.Context) []string {
	c, _ := ctx.Value(chainKey{}).([]string)
	return c
}

// WithChain gives ctx the chain of the run that causes what happens in
// it (for callers that carry it over an asynchronous boundary).
func WithChain(ctx context.Context, chain []string) context.Context {
	return context.WithValue(ctx, chainKey{}, slices.Clone(chain))
}

// checkChain refuses to start workflowID from an event of chain.
func checkChain(chain []string, workflowID string) error {
	if i := slices.Index(chain, workflowID); i >= 0 {
		loop := strings.Join(append(slices.Clone(chain[i:]), workflowID), " → ")
		return apperr.New(apperr.Conflict, fmt.Sprintf("refused: a trigger loop (workflows %s); an event never starts a workflow whose run led to it", loop))
	}
	if len(chain) > MaxTriggerDepth {
		return apperr.New(apperr.Conflict, fmt.Sprintf("refused: the event comes from a chain of %d runs that started one another (%s); a chain holds at most %d",
			len(chain), strings.Join(chain, " → "), MaxTriggerDepth))
	}
	return nil
}
