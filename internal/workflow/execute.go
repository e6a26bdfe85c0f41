package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/workflow/graph"
)

var errLeaseLost = errors.New("workflow: lease lost to another worker")

// tracked is a run executing in this process.
type tracked struct {
	cancel    context.CancelFunc
	cancelled atomic.Bool // stopped by a user's cancel, not by shutdown
}

func (s *Service) track(ctx context.Context, runID string) (context.Context, *tracked, func()) {
	ctx, cancel := context.WithCancel(ctx)
	t := &tracked{cancel: cancel}
	s.active.Store(runID, t)
	return ctx, t, func() {
		s.active.Delete(runID)
		cancel()
	}
}

// interrupt cancels a run executing in this process.
func (s *Service) interrupt(runID string) bool {
	v, ok := s.active.Load(runID)
	if ok {
		t := v.(*tracked)
		t.cancelled.Store(true)
		t.cancel()
	}
	return ok
}

// execute continues a run this process holds from its checkpoint until it
// ends, pauses, or this process lets it go. local, when set, gets every
// event as well as the bus (a streaming caller).
func (s *Service) execute(ctx context.Context, r *Run, local func(graph.Event)) (*Run, error) {
	g, err := s.compiled(ctx, r.WorkflowID, r.Version)
	if err != nil {
		return nil, err
	}
	ctx = authn.With(ctx, &authn.Principal{UserID: r.OwnerID, Role: authn.RoleUser})
	ctx, t, untrack := s.track(ctx, r.ID)
	defer untrack()
	lost := make(chan struct{})
	stopBeat := s.heartbeat(ctx, r, t, lost)
	done, err := s.store.done(ctx, r.ID, r.Checkpoint.Step+1)
	if err != nil {
		stopBeat()
		return nil, err
	}
	var resume any
	if len(r.Resume) > 0 {
		if err := json.Unmarshal(r.Resume, &resume); err != nil {
			stopBeat()
			return nil, err
		}
	}
	var h graph.Hooks = &hooks{s: s, r: r, local: local, ctx: context.WithoutCancel(ctx)}
	ctx, endSpan := s.startRun(ctx, r)
	if s.tracer != nil {
		h = tracedHooks{hooks: h.(*hooks), tracer: s.tracer}
	}
	out, err := g.Run(ctx, graph.RunParams{RunID: r.ID, Checkpoint: r.Checkpoint, Done: done, Resume: resume,
		Hooks: h, Effects: s.effects, Now: s.now})
	defer func() { endSpan(r) }()
	stopBeat()
	select {
	case <-lost:
		return nil, errLeaseLost
	default:
	}
	if errors.Is(err, errLeaseLost) {
		return nil, err
	}
	if err != nil {
		if t.cancelled.Load() {
			return s.finish(ctx, r, graph.Outcome{Status: StatusCancelled, Checkpoint: out.Checkpoint, ErrorCode: "cancelled",
				ErrorMessage: "cancelled by the user"})
		}
		// Shutdown, a client gone, a database error: the run goes back to
		// the queue and continues from its last checkpoint elsewhere.
		if qerr := s.requeue(context.WithoutCancel(ctx), r); qerr != nil {
			return nil, errors.Join(err, qerr)
		}
		return nil, err
	}
	return s.finish(ctx, r, out)
}

// hooks persist a run as the engine advances it.
type hooks struct {
	s     *Service
	r     *Run
	local func(graph.Event)
	ctx   context.Context // events outlive a cancelled run context
}

func stepRow(runID string, rec *graph.Record) *StepRow {
	return &StepRow{ID: ids.New(), RunID: runID, Step: rec.Step, Node: rec.Node, Type: rec.Type,
		Status: rec.Status, Record: rec, StartedAt: rec.StartedAt, FinishedAt: rec.FinishedAt}
}

func (h *hooks) Node(ctx context.Context, rec *graph.Record) error {
	_, err := h.s.db.W.NewInsert().Model(stepRow(h.r.ID, rec)).Exec(context.WithoutCancel(ctx))
	return err
}

// Commit stores the checkpoint (and the records held for it) and moves
// the run to it, if this process still holds the run.
func (h *hooks) Commit(ctx context.Context, cp *graph.Checkpoint, recs []*graph.Record) error {
	row := &CheckpointRow{ID: ids.New(), RunID: h.r.ID, WorkflowID: h.r.WorkflowID, Step: cp.Step, Data: cp, CreatedAt: h.s.now().UTC()}
	err := h.s.db.InTx(context.WithoutCancel(ctx), func(ctx context.Context, tx *db.Tx) error {
		res, err := whereLease(tx.NewUpdate().Model((*Run)(nil)), h.r.ID, h.s.instance).
			Set("checkpoint = ?", cp).Set("checkpoint_id = ?", row.ID).Set("resume = NULL").Set("heartbeat_at = ?", row.CreatedAt).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errLeaseLost
		}
		if _, err = tx.NewInsert().Model(row).Exec(ctx); err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		rows := make([]*StepRow, len(recs))
		for i, r := range recs {
			rows[i] = stepRow(h.r.ID, r)
		}
		_, err = tx.NewInsert().Model(&rows).Exec(ctx)
		return err
	})
	if err == nil {
		h.r.Checkpoint, h.r.CheckpointID, h.r.Resume = cp, row.ID, nil
	}
	return err
}

func (h *hooks) Emit(e graph.Event) {
	if h.local != nil {
		h.local(e)
	}
	h.s.publish(h.ctx, h.r, e.Type, e.Data, e.Type == "message.delta")
}

func (s *Service) publish(ctx context.Context, r *Run, typ string, data any, ephemeral bool) {
	if s.bus == nil {
		return
	}
	b, err := json.Marshal(data)
	if err != nil {
		return
	}
	// Best effort: a run never fails because nobody could be told.
	_, _ = s.bus.Publish(context.WithoutCancel(ctx), events.Event{Topic: events.RunKey(r.ID), UserID: r.OwnerID, Type: typ, Data: b, Ephemeral: ephemeral})
}

// heartbeat renews the lease until stopped; it cancels the run when a
// cancel was requested through the database, and closes lost when another
// worker took the run.
func (s *Service) heartbeat(ctx context.Context, r *Run, t *tracked, lost chan struct{}) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(s.lease / 5)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var flags []bool
			err := whereLease(s.db.W.NewUpdate().Model((*Run)(nil)), r.ID, s.instance).Set("heartbeat_at = ?", s.now().UTC()).
				Returning("cancel_requested").Scan(context.WithoutCancel(ctx), &flags)
			switch {
			case err != nil && !db.IsNoRows(err):
				continue // a missed beat is not fatal: the lease has room for several
			case len(flags) == 0:
				close(lost)
				t.cancel()
				return
			case flags[0]:
				t.cancelled.Store(true)
				t.cancel()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// claim takes a queued run, or a running one whose worker went silent.
// It returns nil when there is nothing to do.
func (s *Service) claim(ctx context.Context, id string) (*Run, error) {
	now := s.now().UTC()
	res, err := s.db.W.NewUpdate().Model((*Run)(nil)).
		Set("status = ?", StatusRunning).Set("lease_owner = ?", s.instance).Set("heartbeat_at = ?", now).
		Set("attempt = attempt + 1").Set("started_at = COALESCE(started_at, ?)", now).
		Set("deadline_at = COALESCE(deadline_at, ?)", now.Add(s.timeout)).
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
	return s.store.reload(ctx, id)
}

// requeue hands a run this process holds back to the queue.
func (s *Service) requeue(ctx context.Context, r *Run) error {
	if s.queue == nil {
		return nil
	}
	return s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		res, err := whereLease(tx.NewUpdate().Model((*Run)(nil)), r.ID, s.instance).
			Set("status = ?", StatusQueued).Set("lease_owner = ''").Set("background = TRUE").Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		_, err = s.queue.InsertTx(ctx, tx, JobArgs{RunID: r.ID}, nil)
		return err
	})
}

// finish stores how the run ended (or paused), if this process still
// holds it.
func (s *Service) finish(ctx context.Context, r *Run, out graph.Outcome) (*Run, error) {
	ctx = context.WithoutCancel(ctx)
	now := s.now().UTC()
	owner := r.LeaseOwner
	if owner == "" {
		owner = s.instance
	}
	r.Status, r.ErrorCode, r.ErrorMessage, r.FailedNode = out.Status, out.ErrorCode, out.ErrorMessage, out.FailedNode
	if out.Checkpoint != nil {
		r.Checkpoint = out.Checkpoint
	}
	r.LeaseOwner, r.Resume, r.InterruptUntil, r.FinishedAt = "", nil, nil, nil
	if r.Status == graph.Interrupted {
		r.Status = StatusInterrupted
		if it := out.Checkpoint.Interrupt; it != nil && it.TimeoutSeconds > 0 {
			until := now.Add(time.Duration(it.TimeoutSeconds * float64(time.Second)))
			r.InterruptUntil = &until
		}
	} else {
		r.FinishedAt = &now
	}
	res, err := s.db.W.NewUpdate().Model(r).Column("status", "error_code", "error_message", "failed_node", "checkpoint", "lease_owner",
		"resume", "interrupt_until", "finished_at").WherePK().Where("lease_owner = ?", owner).Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("workflow: finish run: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return s.store.reload(ctx, r.ID)
	}
	s.publish(ctx, r, finalEvent[r.Status], RunOut(r), false)
	s.afterRun(ctx, r)
	if ev := platformEvent[r.Status]; ev != "" {
		if _, err := s.Dispatch(ctx, r.OwnerID, ev, RunOut(r), r.WorkflowID); err != nil {
			slog.Default().Error("workflow: dispatch run event", "run", r.ID, "err", err)
		}
	}
	return r, nil
}

var platformEvent = map[string]string{StatusSucceeded: EventWorkflowRunCompleted, StatusFailed: EventWorkflowRunFailed}

var finalEvent = map[string]string{StatusSucceeded: "run.completed", StatusFailed: "run.failed", StatusCancelled: "run.cancelled",
	StatusInterrupted: "run.interrupted"}

var _ graph.Hooks = (*hooks)(nil)
