package planner

import "github.com/pulse-run/pulse/internal/platform/durable"

// ReplanArgs is the background re-plan of one user's schedule.
type ReplanArgs struct {
	UserID string `json:"user_id"`
}

// Kind implements river.JobArgs.
func (ReplanArgs) Kind() string { return "planner_replan" }

// addKinds registers the planner's durable work with the core: the re-plan
// gets the shared worker defaults (backoff, attempts) and, should it panic,
// is logged with its stack and failed, like every kind. Its item is the
// queue's job itself: no table of its own, so nothing to claim or lease.
func (s *Service) addKinds(c *durable.Core) {
	durable.AddKind(c, durable.Kind[ReplanArgs]{Work: s.replan})
}
