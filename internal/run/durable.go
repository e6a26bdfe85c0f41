package run

import (
	"context"
	"errors"
	"strings"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/durable"
	"github.com/pulse-run/pulse/internal/platform/events"
)

// JobArgs is the queue job that executes (or resumes) a run.
type JobArgs struct {
	RunID string `json:"run_id"`
}

// Kind implements river.JobArgs.
func (JobArgs) Kind() string { return "agent_run" }

// InsertOpts are the durable core's: transient failures are retried, with
// its backoff.
func (JobArgs) InsertOpts() river.InsertOpts { return durable.InsertOpts() }

// MaxAttempts bounds how often a run is tried after transient failures.
const MaxAttempts = durable.MaxAttempts

// durableTable describes the runs table to the durable core, which claims,
// renews, reaps and cancels runs.
func (s *Service) durableTable() durable.Table[*Run] {
	return durable.Table[*Run]{Model: (*Run)(nil), Name: "runs", Load: s.reload, CancelAction: "cancel",
		Job:         func(id string) river.JobArgs { return JobArgs{RunID: id} },
		OwnDeadline: true, // run() stops the loop at the deadline and records it
		Requeued: func(ctx context.Context, it durable.Item) {
			s.publish(ctx, &Run{ID: it.ID, OwnerID: it.OwnerID}, events.RunRequeued, map[string]string{"reason": "its worker stopped responding"}, false)
		},
		Expired: func(ctx context.Context, it durable.Item) { s.published(ctx, it.ID, events.RunFailed) },
	}
}

// durableKind is how the queue works a run.
func (s *Service) durableKind() durable.Kind[JobArgs] {
	return durable.Kind[JobArgs]{Work: s.work, OwnDeadline: true,
		Fail: func(ctx context.Context, job *river.Job[JobArgs], reason string) error {
			ok, err := s.leases.Fail(ctx, job.Args.RunID, durable.CodeInternal, reason)
			if ok {
				s.published(ctx, job.Args.RunID, events.RunFailed)
			}
			return err
		}}
}

// published tells the run's watchers of it as it is now.
func (s *Service) published(ctx context.Context, id string, typ events.Type) {
	if r, err := s.reload(ctx, id); err == nil {
		s.publish(ctx, r, typ, runOut(r), false)
	}
}

// work claims the run and executes it from its checkpoint. A transient
// failure puts the run back in the queue for the job's next attempt; the
// last attempt's failure is final.
func (s *Service) work(ctx context.Context, job *river.Job[JobArgs]) error {
	r, ok, err := s.leases.Claim(ctx, job.Args.RunID)
	if err != nil || !ok {
		return err // not ok: finished, cancelled, or held by a live worker
	}
	if r.State == nil {
		return errors.New("run: no state to continue from")
	}
	ctx = authn.With(ctx, &authn.Principal{UserID: r.OwnerID, Role: authn.RoleUser})
	out, err := s.run(ctx, r, nil)
	if errors.Is(err, errLeaseLost) {
		return nil // another worker has it now
	}
	if err != nil {
		return err
	}
	if out.transient && job.Attempt < job.MaxAttempts {
		if err := s.requeue(ctx, r, out); err != nil {
			return err
		}
		return errors.New(string(out.ErrorCode) + ": " + out.ErrorMessage)
	}
	_, err = s.finish(ctx, r, out.Outcome)
	return err
}

// outcome is a loop outcome with whether another attempt may succeed.
type outcome struct {
	Outcome
	transient bool
}

// run continues r from its checkpoint in this process, holding its lease:
// the core renews it, and a cancel from anywhere interrupts it. The
// outcome is not stored, so the queue can retry a transient failure.
func (s *Service) run(ctx context.Context, r *Run, local func(Event)) (outcome, error) {
	var o outcome
	ctx, err := s.withKeys(ctx, r.OwnerID)
	if err != nil {
		return o, err
	}
	ctx, h, done := s.leases.Track(ctx, r.ID, r.DeadlineAt)
	defer done()
	o.Outcome = s.loop.Continue(ctx, LoopParams{RunID: r.ID, Spec: r.State.Spec, Recorder: s.recorder(r.ID), Events: s.emitter(ctx, r, local)}, r.State)
	if h.Lost() || strings.Contains(o.ErrorMessage, errLeaseLost.Error()) {
		return o, errLeaseLost
	}
	if o.Status == StatusFailed && errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		o.ErrorCode, o.ErrorMessage = durable.CodeDeadline, "the run did not finish before its deadline"
	}
	o.transient = o.Status == StatusFailed && o.Transient
	return o, nil
}

// requeue puts a run that failed transiently back in the queue, recording
// why; its checkpoint stays, so the next attempt repeats nothing. The
// job's own retry claims it again.
func (s *Service) requeue(ctx context.Context, r *Run, o outcome) error {
	_, err := s.leases.Requeue(ctx, durable.RequeueParams{ID: r.ID, Set: func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Set("error_code = ?", o.ErrorCode).Set("error_message = ?", "attempt failed, will retry: "+o.ErrorMessage)
	}})
	if err == nil {
		s.publish(ctx, r, events.RunRetrying, map[string]any{"attempt": r.Attempt, "error": map[string]string{"code": string(o.ErrorCode), "message": o.ErrorMessage}}, false)
	}
	return err
}
