package workflow

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/durable"
	"github.com/pulse-run/pulse/internal/platform/events"
)

// durableTable describes workflow runs to the durable core, which claims,
// renews, reaps and cancels them. Claims commit with the other runs'
// writes, and take the run's deadline from its first claim.
func (s *Service) durableTable() durable.Table[*Run] {
	return durable.Table[*Run]{Model: (*Run)(nil), Name: "workflow_runs", Load: s.store.reload, CancelAction: "workflow.cancel",
		Job:   func(id string) river.JobArgs { return JobArgs{RunID: id} },
		Write: s.write,
		ClaimSet: func(q *bun.UpdateQuery, now time.Time) *bun.UpdateQuery {
			return q.Set("deadline_at = COALESCE(deadline_at, ?)", now.Add(s.timeout))
		},
		Interrupted: StatusInterrupted, Expire: s.expireInterrupt, Upkeep: s.prune,
	}
}

// durableKind is how the queue works a workflow run.
func (s *Service) durableKind() durable.Kind[JobArgs] {
	return durable.Kind[JobArgs]{Work: s.work, OwnDeadline: true,
		Fail: func(ctx context.Context, job *river.Job[JobArgs], reason string) error {
			ok, err := s.leases.Fail(ctx, job.Args.RunID, durable.CodeInternal, reason)
			if ok {
				if r, err := s.store.reload(ctx, job.Args.RunID); err == nil {
					s.publish(ctx, r, events.RunFailed, RunOut(r), false)
					s.afterRun(ctx, r)
				}
			}
			return err
		}}
}

// work claims the run and continues it from its checkpoint.
func (s *Service) work(ctx context.Context, job *river.Job[JobArgs]) error {
	r, ok, err := s.leases.Claim(ctx, job.Args.RunID)
	if err != nil || !ok {
		return err // not ok: finished, cancelled, or held by a live worker
	}
	_, err = s.execute(ctx, r, nil)
	if errors.Is(err, errLeaseLost) {
		return nil // another worker has it now
	}
	return err
}

// expireInterrupt applies on_timeout to an interrupt nobody answered in
// time (the durable core's reaper finds them): continue with the node's
// timeout value, or fail.
func (s *Service) expireInterrupt(ctx context.Context, r *Run) error {
	if r.Checkpoint == nil {
		return nil
	}
	it := r.Checkpoint.Interrupt
	if it != nil && it.OnTimeout == "continue" {
		g, err := s.compiled(ctx, r.WorkflowID, r.Version)
		if err != nil {
			return err
		}
		n := g.Node(it.Node)
		if n == nil {
			return nil
		}
		if _, err := s.answer(ctx, r, n.TimeoutValue, false); err != nil && !isConflict(err) {
			return err
		}
		return nil
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
		s.publish(ctx, r, events.RunFailed, RunOut(r), false)
		s.afterRun(ctx, r)
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

// triggersKind fires due cron triggers, each period.
func (s *Service) triggersKind() durable.Kind[TriggersArgs] {
	return durable.Kind[TriggersArgs]{Work: func(ctx context.Context, _ *river.Job[TriggersArgs]) error { return s.FireDue(ctx) }}
}
