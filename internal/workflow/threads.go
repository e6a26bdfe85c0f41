package workflow

import (
	"context"
	"encoding/json"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/workflow/graph"
)

// CreateThread opens a thread on one of the caller's workflows.
func (s *Service) CreateThread(ctx context.Context, workflowID, policy string) (*Thread, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return nil, err
	}
	switch policy {
	case "":
		policy = PolicyReject
	case PolicyReject, PolicyEnqueue, PolicyInterrupt, PolicyRollback:
	default:
		return nil, apperr.InvalidField("body.policy", "must be reject, enqueue, interrupt or rollback")
	}
	w, err := s.store.workflow(ctx, pr.UserID, workflowID)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	t := &Thread{ID: ids.New(), OwnerID: pr.UserID, WorkflowID: w.ID, Policy: policy, CreatedAt: now, UpdatedAt: now}
	if _, err := s.db.W.NewInsert().Model(t).Exec(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// GetThread returns one of the caller's threads.
func (s *Service) GetThread(ctx context.Context, id string) (*Thread, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, err
	}
	return s.store.thread(ctx, pr.UserID, id)
}

// startOnThread applies the thread's policy to new input: it starts on the
// thread's state, waits its turn, or stops the active run first.
func (s *Service) startOnThread(ctx context.Context, g *graph.Graph, r *Run, input map[string]any) (*Run, error) {
	t, err := s.store.thread(ctx, r.OwnerID, r.ThreadID)
	if err != nil {
		return nil, apperr.InvalidField("body.thread_id", "no such thread")
	}
	if t.WorkflowID != r.WorkflowID {
		return nil, apperr.InvalidField("body.thread_id", "the thread belongs to another workflow")
	}
	base := t.State
	if t.ActiveRunID != "" {
		active, err := s.store.reload(ctx, t.ActiveRunID)
		if err != nil {
			return nil, err
		}
		if !active.Finished() {
			switch t.Policy {
			case PolicyReject:
				return nil, apperr.Errorf(apperr.Conflict, "the thread is busy with run %s (policy reject)", active.ID)
			case PolicyEnqueue:
				r.Status, r.Checkpoint = StatusPending, nil
				if err := s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error { return s.insertTx(ctx, tx, r) }); err != nil {
					return nil, err
				}
				s.publish(ctx, r, events.RunCreated, RunOut(r), false)
				return r, nil
			}
			code := "interrupted"
			if t.Policy == PolicyRollback {
				code = "rolled_back"
			}
			stopped, err := s.stop(ctx, active, code)
			if err != nil {
				return nil, err
			}
			if t.Policy == PolicyInterrupt && stopped.Checkpoint != nil {
				// The interrupted run's progress is kept: the new input
				// continues from where it got to.
				if base, err = json.Marshal(stopped.Checkpoint.State); err != nil {
					return nil, err
				}
			}
			// A run stopped while executing has moved the thread on
			// itself (afterRun cleared it): start from the thread as it
			// is now.
			if t, err = s.store.thread(ctx, r.OwnerID, r.ThreadID); err != nil {
				return nil, err
			}
			if t.ActiveRunID != "" && t.ActiveRunID != active.ID {
				return nil, apperr.New(apperr.Conflict, "the thread changed while starting this run: try again")
			}
			if t.Policy == PolicyRollback {
				base = t.State
			}
		}
	}
	state := map[string]any{}
	if len(base) > 0 {
		if err := json.Unmarshal(base, &state); err != nil {
			return nil, err
		}
	}
	if state, err = g.Apply(state, input); err != nil {
		return nil, apperr.InvalidField("body.input", err.Error())
	}
	if err := g.ValidateState(state); err != nil {
		return nil, apperr.InvalidField("body.input", "the thread's state with this input does not fit the schema: "+err.Error())
	}
	r.Checkpoint = g.Start(state)
	err = s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		// The thread moves to this run only if nobody else moved it first.
		res, err := tx.NewUpdate().Model((*Thread)(nil)).Set("active_run_id = ?", r.ID).Set("updated_at = ?", s.now().UTC()).
			Where("id = ? AND active_run_id = ?", t.ID, t.ActiveRunID).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.New(apperr.Conflict, "the thread changed while starting this run: try again")
		}
		return s.insertTx(ctx, tx, r)
	})
	if err != nil {
		return nil, err
	}
	s.publish(ctx, r, events.RunCreated, RunOut(r), false)
	return r, nil
}

// stop cancels a thread's active run for new input and waits for it.
func (s *Service) stop(ctx context.Context, r *Run, code string) (*Run, error) {
	msg := map[string]string{"interrupted": "interrupted by new input on its thread", "rolled_back": "rolled back for new input on its thread"}[code]
	now := s.now().UTC()
	res, err := s.db.W.NewUpdate().Model((*Run)(nil)).Set("status = ?", StatusCancelled).Set("error_code = ?", code).
		Set("error_message = ?", msg).Set("finished_at = ?", now).Set("lease_owner = ''").
		Where("id = ? AND status IN (?)", r.ID, bun.In([]string{StatusQueued, StatusInterrupted, StatusPending})).Exec(ctx)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return s.store.reload(ctx, r.ID)
	}
	// Running: the same path as a user's cancel.
	out, err := s.Cancel(ctx, r.ID)
	if err != nil && !isConflict(err) {
		return nil, err
	}
	if out == nil || !out.Finished() {
		return nil, apperr.New(apperr.Conflict, "the thread's active run did not stop in time: try again")
	}
	if out.Status == StatusCancelled {
		// Say why, as for a run stopped before it executed.
		if _, err := s.db.W.NewUpdate().Model((*Run)(nil)).Set("error_code = ?", code).Set("error_message = ?", msg).
			Where("id = ? AND status = ?", out.ID, StatusCancelled).Exec(ctx); err != nil {
			return nil, err
		}
		out.ErrorCode, out.ErrorMessage = code, msg
	}
	return out, nil
}

// afterRun moves a thread on when its run ends: its state becomes the
// run's, and the next waiting input starts.
func (s *Service) afterRun(ctx context.Context, r *Run) {
	if r.ThreadID == "" || !r.Finished() {
		return
	}
	ctx = context.WithoutCancel(ctx)
	err := s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		q := tx.NewUpdate().Model((*Thread)(nil)).Set("updated_at = ?", s.now().UTC()).Set("last_run_id = ?", r.ID).
			Set("active_run_id = ''").Where("id = ? AND active_run_id = ?", r.ThreadID, r.ID)
		if r.Status == StatusSucceeded && r.Checkpoint != nil {
			b, err := json.Marshal(r.Checkpoint.State)
			if err != nil {
				return err
			}
			q = q.Set("state = ?", string(b))
		}
		res, err := q.Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil // not the active run (a pending one cancelled)
		}
		return s.startNext(ctx, tx, r.ThreadID)
	})
	if err != nil {
		s.log.Error("workflow: move thread on", "thread", r.ThreadID, "run", r.ID, "err", err)
	}
}

// startNext queues the oldest pending run of a thread on its state.
func (s *Service) startNext(ctx context.Context, tx *db.Tx, threadID string) error {
	next := &Run{}
	err := tx.NewSelect().Model(next).Where("thread_id = ? AND status = ?", threadID, StatusPending).Order("id").Limit(1).Scan(ctx)
	if db.IsNoRows(err) {
		return nil
	}
	if err != nil {
		return err
	}
	t := &Thread{}
	if err := tx.NewSelect().Model(t).Where("id = ?", threadID).Scan(ctx); err != nil {
		return err
	}
	g, err := s.compiled(ctx, next.WorkflowID, next.Version)
	if err != nil {
		return err
	}
	state, input := map[string]any{}, map[string]any{}
	if len(t.State) > 0 {
		_ = json.Unmarshal(t.State, &state)
	}
	_ = json.Unmarshal(next.Input, &input)
	status, code, msg := StatusQueued, "", ""
	if state, err = g.Apply(state, input); err == nil {
		err = g.ValidateState(state)
	}
	if err != nil {
		// The input fitted the state when it was sent; it no longer does.
		status, code, msg = StatusFailed, "state_invalid", err.Error()
	}
	next.Checkpoint = g.Start(state)
	now := s.now().UTC()
	q := tx.NewUpdate().Model(next).Set("status = ?", status).Set("checkpoint = ?", next.Checkpoint).Set("background = TRUE").
		Set("error_code = ?", code).Set("error_message = ?", msg).Where("id = ? AND status = ?", next.ID, StatusPending)
	if status == StatusFailed {
		q = q.Set("finished_at = ?", now)
	}
	if _, err := q.Exec(ctx); err != nil {
		return err
	}
	if status == StatusFailed {
		return s.startNext(ctx, tx, threadID)
	}
	if _, err := tx.NewUpdate().Model((*Thread)(nil)).Set("active_run_id = ?", next.ID).Where("id = ?", threadID).Exec(ctx); err != nil {
		return err
	}
	_, err = s.queue.InsertTx(ctx, tx, JobArgs{RunID: next.ID}, nil)
	return err
}
