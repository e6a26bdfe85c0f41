package planner

import (
	"context"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/durable"
)

// enqueueReplan schedules a re-plan of the user's schedule at. One job
// waiting per user is enough, so a burst of changes costs one plan. A job
// already running may have read the plan before this change, and River
// counts it as the waiting one until it completes; then a second job,
// outside the uniqueness, makes sure the change is planned.
func (s *Service) enqueueReplan(ctx context.Context, userID string, at time.Time) error {
	unique := river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending,
		rivertype.JobStateRunning, rivertype.JobStateScheduled, rivertype.JobStateRetryable}}
	res, err := s.queue.Insert(ctx, ReplanArgs{UserID: userID}, &river.InsertOpts{ScheduledAt: at, MaxAttempts: durable.MaxAttempts, UniqueOpts: unique})
	if err != nil || !res.UniqueSkippedAsDuplicate || res.Job.State != rivertype.JobStateRunning {
		return err
	}
	_, err = s.queue.Insert(ctx, ReplanArgs{UserID: userID}, &river.InsertOpts{ScheduledAt: at, MaxAttempts: durable.MaxAttempts})
	return err
}

// replan re-plans a user's schedule once their changes settle, keeping
// every block that still fits. It waits out the debounce after the latest
// change (a change while it runs is seen afterwards, since the unique job
// cannot be inserted again while this one runs) and applies a plan.
func (s *Service) replan(ctx context.Context, job *river.Job[ReplanArgs]) error {
	owner := job.Args.UserID
	plan, err := s.store.plan(ctx, owner)
	if err != nil {
		return err
	}
	if plan.ChangedAt == nil {
		return nil
	}
	if quiet := plan.ChangedAt.Add(s.debounce).Sub(s.now()); quiet > 0 {
		return river.JobSnooze(quiet)
	}
	// The user's own preferences and zone apply; the job acts for them.
	ctx = authn.With(ctx, &authn.Principal{UserID: owner, Role: authn.RoleUser})
	prefs, err := s.preferences(ctx, owner)
	if err != nil {
		return err
	}
	if !prefs.AutoReplan {
		return nil
	}
	if _, err := s.apply(ctx, owner, PlanParams{}); err != nil {
		return err
	}
	if plan, err = s.store.plan(ctx, owner); err == nil && plan.ChangedAt != nil {
		return river.JobSnooze(s.debounce)
	}
	return err
}
