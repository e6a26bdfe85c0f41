package run

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/queue"
)

// JobArgs is the queue job that executes (or resumes) a run.
type JobArgs struct {
	RunID string `json:"run_id"`
}

// Kind implements river.JobArgs.
func (JobArgs) Kind() string { return "agent_run" }

// InsertOpts bounds the job's attempts: transient failures are retried,
// with the backoff of NextRetry.
func (JobArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: MaxAttempts} }

// MaxAttempts bounds how often a run is tried after transient failures.
const MaxAttempts = 5

// Worker executes queued runs.
type Worker struct {
	river.WorkerDefaults[JobArgs]
	s *Service
}

// Worker returns the queue worker of this service.
func (s *Service) Worker() *Worker { return &Worker{s: s} }

// Timeout lifts the queue's job timeout: a run has its own deadline.
func (w *Worker) Timeout(*river.Job[JobArgs]) time.Duration { return -1 }

// NextRetry is exponential backoff from 1 s to 30 s, with jitter.
func (w *Worker) NextRetry(job *river.Job[JobArgs]) time.Time {
	return time.Now().Add(queue.RetryDelay(job.Attempt))
}

// Work claims the run and executes it from its checkpoint. A transient
// failure puts the run back in the queue for the job's next attempt; the
// last attempt's failure is final.
func (w *Worker) Work(ctx context.Context, job *river.Job[JobArgs]) error {
	s := w.s
	r, err := s.claim(ctx, job.Args.RunID)
	if err != nil || r == nil {
		return err // nil: finished, cancelled, or held by a live worker
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
	lost      bool // the lease went to another worker
}

// claim takes a queued run, or a running one whose worker went silent,
// for this process. It returns nil when there is nothing to do.
func (s *Service) claim(ctx context.Context, id string) (*Run, error) {
	now := s.now().UTC()
	res, err := s.db.W.NewUpdate().Model((*Run)(nil)).
		Set("status = ?", StatusRunning).Set("lease_owner = ?", s.instance).Set("heartbeat_at = ?", now).
		Set("attempt = attempt + 1").Set("started_at = COALESCE(started_at, ?)", now).
		Where("id = ?", id).
		WhereGroup(" AND ", func(q *bun.UpdateQuery) *bun.UpdateQuery {
			return q.Where("status = ?", StatusQueued).WhereOr("status = ? AND (heartbeat_at IS NULL OR heartbeat_at < ?)", StatusRunning, now.Add(-s.lease))
		}).Exec(ctx)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, nil
	}
	r, err := s.reload(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.State == nil {
		return nil, errors.New("run: no state to continue from")
	}
	return r, nil
}

// run continues r from its checkpoint in this process, holding its lease:
// a heartbeat renews it, and a cancel from anywhere interrupts it. The
// outcome is not stored, so the queue can retry a transient failure.
func (s *Service) run(ctx context.Context, r *Run, local func(Event)) (outcome, error) {
	var o outcome
	ctx, err := s.withKeys(ctx, r.OwnerID)
	if err != nil {
		return o, err
	}
	ctx, h, done := s.ctl.Track(ctx, r.ID)
	defer done()
	if r.DeadlineAt != nil {
		var stop context.CancelFunc
		ctx, stop = context.WithDeadline(ctx, *r.DeadlineAt)
		defer stop()
	}
	lost := make(chan struct{})
	stopBeat := s.heartbeat(ctx, r, h, lost)
	rec := s.recorder(r.ID)
	o.Outcome = s.loop.Continue(ctx, LoopParams{RunID: r.ID, Spec: r.State.Spec, Recorder: rec, Events: s.emitter(ctx, r, local)}, r.State)
	stopBeat()
	select {
	case <-lost:
		o.lost = true
	default:
	}
	if o.lost || strings.Contains(o.ErrorMessage, errLeaseLost.Error()) {
		return o, errLeaseLost
	}
	if o.Status == StatusFailed && errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		o.ErrorCode, o.ErrorMessage = "deadline_exceeded", "the run did not finish before its deadline"
	}
	o.transient = o.Status == StatusFailed && o.Transient
	return o, nil
}

// requeue puts a run that failed transiently back in the queue, recording
// why; its checkpoint stays, so the next attempt repeats nothing.
func (s *Service) requeue(ctx context.Context, r *Run, o outcome) error {
	_, err := s.db.W.NewUpdate().Model((*Run)(nil)).Set("status = ?", StatusQueued).Set("lease_owner = ''").
		Set("error_code = ?", o.ErrorCode).Set("error_message = ?", "attempt failed, will retry: "+o.ErrorMessage).
		Where("id = ? AND lease_owner = ?", r.ID, s.instance).Exec(context.WithoutCancel(ctx))
	if err == nil {
		s.publish(ctx, r, "run.retrying", map[string]any{"attempt": r.Attempt, "error": map[string]string{"code": string(o.ErrorCode), "message": o.ErrorMessage}}, false)
	}
	return err
}

// Reap gives runs whose worker vanished (no heartbeat for a lease) to a
// new job, and fails runs past their deadline. A periodic job calls it.
func (s *Service) Reap(ctx context.Context) (requeued, expired int, err error) {
	now := s.now().UTC()
	var late []Run
	err = s.db.W.NewUpdate().Model((*Run)(nil)).Set("status = ?", StatusFailed).Set("error_code = 'deadline_exceeded'").
		Set("error_message = 'the run did not finish before its deadline'").Set("finished_at = ?", now).Set("lease_owner = ''").
		Where("status IN (?) AND deadline_at < ?", bun.In([]Status{StatusQueued, StatusRunning}), now.Add(-s.lease)).
		Returning("id, owner_id").Scan(ctx, &late)
	if err != nil {
		return 0, 0, err
	}
	for i := range late {
		r, err := s.reload(ctx, late[i].ID)
		if err == nil {
			s.publish(ctx, r, "run.failed", runOut(r), false)
		}
	}
	var orphans []Run
	err = s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		orphans = nil
		if err := tx.NewUpdate().Model((*Run)(nil)).Set("status = ?", StatusQueued).Set("lease_owner = ''").Set("background = TRUE").
			Where("status = ? AND heartbeat_at < ?", StatusRunning, now.Add(-s.lease)).
			Returning("id, owner_id").Scan(ctx, &orphans); err != nil {
			return err
		}
		for _, o := range orphans {
			if _, err := s.queue.InsertTx(ctx, tx, JobArgs{RunID: o.ID}, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, len(late), err
	}
	for i := range orphans {
		s.publish(ctx, &orphans[i], "run.requeued", map[string]string{"reason": "its worker stopped responding"}, false)
	}
	return len(orphans), len(late), nil
}

// ReapArgs is the periodic job that calls Reap.
type ReapArgs struct{}

// Kind implements river.JobArgs.
func (ReapArgs) Kind() string { return "run_reaper" }

// Reaper is the periodic job's worker.
type Reaper struct {
	river.WorkerDefaults[ReapArgs]
	s *Service
}

// Reaper returns the periodic reaper's worker.
func (s *Service) Reaper() *Reaper { return &Reaper{s: s} }

// Work implements river.Worker.
func (w *Reaper) Work(ctx context.Context, _ *river.Job[ReapArgs]) error {
	_, _, err := w.s.Reap(ctx)
	return err
}

// ReapEvery is how often the reaper should run: a vanished worker's run
// is picked up within about a lease and a third.
func (s *Service) ReapEvery() time.Duration { return s.lease / 3 }

// Listen follows control events (cancel requests from other processes)
// until ctx ends.
func (s *Service) Listen(ctx context.Context, bus *events.Bus) { s.ctl.Listen(ctx, bus) }
