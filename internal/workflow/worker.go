package workflow

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/queue"
)

// Worker executes queued workflow runs.
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

// Work claims the run and continues it from its checkpoint.
func (w *Worker) Work(ctx context.Context, job *river.Job[JobArgs]) error {
	r, err := w.s.claim(ctx, job.Args.RunID)
	if err != nil || r == nil {
		return err // nil: finished, cancelled, or held by a live worker
	}
	_, err = w.s.execute(ctx, r, nil)
	if errors.Is(err, errLeaseLost) {
		return nil // another worker has it now
	}
	return err
}

// ReapArgs is the periodic job that looks after runs nobody is executing.
type ReapArgs struct{}

// Kind implements river.JobArgs.
func (ReapArgs) Kind() string { return "workflow_reaper" }

// InsertOpts keeps one reaper job at a time.
func (ReapArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByPeriod: time.Second}}
}

// Reaper is the worker of ReapArgs.
type Reaper struct {
	river.WorkerDefaults[ReapArgs]
	s *Service
}

// Reaper returns the periodic worker that requeues runs whose worker
// vanished, fails runs past their deadline, applies the timeout policy of
// unanswered interrupts, and prunes checkpoints.
func (s *Service) Reaper() *Reaper { return &Reaper{s: s} }

// Work does one round.
func (w *Reaper) Work(ctx context.Context, _ *river.Job[ReapArgs]) error {
	return errors.Join(w.s.reap(ctx), w.s.expireInterrupts(ctx), w.s.prune(ctx))
}

func (s *Service) reap(ctx context.Context) error {
	now := s.now().UTC()
	// Past the deadline: failed, wherever they are. A worker still on one
	// loses its lease with the status change.
	if _, err := s.db.W.NewUpdate().Model((*Run)(nil)).Set("status = ?", StatusFailed).Set("error_code = 'deadline_exceeded'").
		Set("error_message = 'the run did not finish before its deadline'").Set("finished_at = ?", now).Set("lease_owner = ''").
		Where("status IN (?) AND deadline_at < ?", bun.In([]string{StatusQueued, StatusRunning}), now).Exec(ctx); err != nil {
		return err
	}
	var stale []string
	if err := s.db.W.NewSelect().Model((*Run)(nil)).Column("id").
		Where("status = ? AND (heartbeat_at IS NULL OR heartbeat_at < ?)", StatusRunning, now.Add(-s.lease)).Limit(1000).Scan(ctx, &stale); err != nil {
		return err
	}
	for _, id := range stale {
		err := s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			res, err := tx.NewUpdate().Model((*Run)(nil)).Set("status = ?", StatusQueued).Set("lease_owner = ''").Set("background = TRUE").
				Where("id = ? AND status = ? AND (heartbeat_at IS NULL OR heartbeat_at < ?)", id, StatusRunning, now.Add(-s.lease)).Exec(ctx)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return nil
			}
			_, err = s.queue.InsertTx(ctx, tx, JobArgs{RunID: id}, nil)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// expireInterrupts applies on_timeout to interrupts nobody answered in
// time: continue with the node's timeout value, or fail.
func (s *Service) expireInterrupts(ctx context.Context) error {
	var due []Run
	if err := s.db.W.NewSelect().Model(&due).Where("status = ? AND interrupt_until < ?", StatusInterrupted, s.now().UTC()).
		Limit(1000).Scan(ctx); err != nil {
		return err
	}
	for i := range due {
		r := &due[i]
		it := r.Checkpoint.Interrupt
		if it != nil && it.OnTimeout == "continue" {
			g, err := s.compiled(ctx, r.WorkflowID, r.Version)
			if err != nil {
				return err
			}
			n := g.Node(it.Node)
			if n == nil {
				continue
			}
			if _, err := s.answer(ctx, r, n.TimeoutValue, false); err != nil && !isConflict(err) {
				return err
			}
			continue
		}
		now := s.now().UTC()
		res, err := s.db.W.NewUpdate().Model((*Run)(nil)).Set("status = ?", StatusFailed).Set("error_code = 'interrupt_timeout'").
			Set("error_message = 'nobody answered in time'").Set("finished_at = ?", now).Set("interrupt_until = NULL").
			Where("id = ? AND status = ?", r.ID, StatusInterrupted).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			r.Status, r.ErrorCode, r.ErrorMessage, r.FinishedAt = StatusFailed, "interrupt_timeout", "nobody answered in time", &now
			s.publish(ctx, r, "run.failed", RunOut(r), false)
			s.afterRun(ctx, r)
		}
	}
	return nil
}

func isConflict(err error) bool { return apperr.Is(err, apperr.Conflict) }

// prune applies each workflow's retention to its checkpoints: older than
// the TTL, or beyond the newest keep_last of their run. A run's current
// position is on the run itself, so pruning only forgets fork points.
func (s *Service) prune(ctx context.Context) error {
	var ws []Workflow
	if err := s.db.W.NewSelect().Model(&ws).Column("id", "keep_checkpoints", "checkpoint_ttl_seconds").
		Where("keep_checkpoints > 0 OR checkpoint_ttl_seconds > 0").Scan(ctx); err != nil {
		return err
	}
	for _, w := range ws {
		if w.CheckpointTTLSeconds > 0 {
			cut := s.now().UTC().Add(-time.Duration(w.CheckpointTTLSeconds) * time.Second)
			if _, err := s.db.W.NewDelete().Model((*CheckpointRow)(nil)).Where("workflow_id = ? AND created_at < ?", w.ID, cut).Exec(ctx); err != nil {
				return err
			}
		}
		if w.KeepCheckpoints > 0 {
			if _, err := s.db.W.NewDelete().Model((*CheckpointRow)(nil)).Where("workflow_id = ?", w.ID).
				Where("step <= (SELECT MAX(c2.step) FROM workflow_checkpoints AS c2 WHERE c2.run_id = ?TableAlias.run_id) - ?", w.KeepCheckpoints).
				Exec(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// TriggersWorker fires due cron triggers.
type TriggersWorker struct {
	river.WorkerDefaults[TriggersArgs]
	s *Service
}

// TriggersWorker returns the periodic worker of cron triggers.
func (s *Service) TriggersWorker() *TriggersWorker { return &TriggersWorker{s: s} }

// Work fires what is due.
func (w *TriggersWorker) Work(ctx context.Context, _ *river.Job[TriggersArgs]) error {
	return w.s.FireDue(ctx)
}
