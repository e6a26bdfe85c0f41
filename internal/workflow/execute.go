package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/durable"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/workflow/graph"
)

var errLeaseLost = errors.New("workflow: lease lost to another worker")

// execute continues a run this process holds from its checkpoint until it
// ends, pauses, or this process lets it go. local, when set, gets every
// event as well as the bus (a streaming caller).
func (s *Service) execute(ctx context.Context, r *Run, local func(graph.Event)) (*Run, error) {
	g, err := s.compiled(ctx, r.WorkflowID, r.Version)
	if err != nil {
		return nil, err
	}
	ctx = authn.With(ctx, &authn.Principal{UserID: r.OwnerID, Role: authn.RoleUser})
	ctx = withChain(ctx, r)
	var done map[string]*graph.Record
	if !r.fresh {
		if done, err = s.store.done(ctx, r.ID, r.Checkpoint.Step+1); err != nil {
			return nil, err
		}
	}
	var resume any
	if len(r.Resume) > 0 {
		if err := json.Unmarshal(r.Resume, &resume); err != nil {
			return nil, err
		}
	}
	// From here every way out is handled below: a cancel that arrives
	// now stops the engine, which reports it.
	ctx, t, untrack := s.leases.Track(ctx, r.ID, nil)
	defer untrack()
	hk := &hooks{s: s, r: r, local: local, ctx: context.WithoutCancel(ctx), exit: g.Spec.Durability == graph.DurabilityExit}
	var h graph.Hooks = hk
	ctx, endSpan := s.startRun(ctx, r)
	if s.tracer != nil {
		h = tracedHooks{hooks: hk, tracer: s.tracer}
	}
	out, err := g.Run(ctx, graph.RunParams{RunID: r.ID, Checkpoint: r.Checkpoint, Done: done, Resume: resume,
		Hooks: h, Effects: s.effects, Now: s.now})
	defer func() { endSpan(r) }()
	if t.Lost() || errors.Is(err, errLeaseLost) {
		return nil, errLeaseLost // another worker has it; nothing to write
	}
	if err != nil {
		if t.Cancelled() {
			return s.finish(ctx, r, graph.Outcome{Status: StatusCancelled, Checkpoint: out.Checkpoint, ErrorCode: "cancelled",
				ErrorMessage: "cancelled by the user"}, hk)
		}
		// Shutdown, a client gone, a database error: the run goes back to
		// the queue and continues from its last checkpoint elsewhere.
		if qerr := s.requeue(context.WithoutCancel(ctx), r); qerr != nil {
			return nil, errors.Join(err, qerr)
		}
		return nil, err
	}
	return s.finish(ctx, r, out, hk)
}

// hooks persist a run as the engine advances it.
type hooks struct {
	s     *Service
	r     *Run
	local func(graph.Event)
	ctx   context.Context // events outlive a cancelled run context

	// exit: progress stays here until the run ends or pauses.
	exit    bool
	pending []*StepRow
	last    *CheckpointRow

	mu     sync.Mutex     // Emit and Node are called from parallel nodes
	deltas *events.Deltas // token deltas held for the bus
}

func stepRow(runID string, rec *graph.Record) *StepRow {
	return &StepRow{ID: ids.New(), RunID: runID, Step: rec.Step, Node: rec.Node, Type: rec.Type,
		Status: rec.Status, Record: rec, StartedAt: rec.StartedAt, FinishedAt: rec.FinishedAt}
}

func (h *hooks) Node(ctx context.Context, rec *graph.Record) error {
	row := stepRow(h.r.ID, rec)
	if h.exit {
		h.mu.Lock()
		h.pending = append(h.pending, row)
		h.mu.Unlock()
		return nil
	}
	return h.s.write(ctx, func(ctx context.Context, tx *db.Tx) error {
		_, err := tx.NewInsert().Model(row).Exec(ctx)
		return err
	})
}

// Commit stores the checkpoint (and the records held for it) and moves
// the run to it, if this process still holds the run.
func (h *hooks) Commit(ctx context.Context, cp *graph.Checkpoint, recs []*graph.Record) error {
	row := &CheckpointRow{ID: ids.New(), RunID: h.r.ID, WorkflowID: h.r.WorkflowID, Step: cp.Step, Data: cp, CreatedAt: h.s.now().UTC()}
	steps := make([]*StepRow, len(recs))
	for i, r := range recs {
		steps[i] = stepRow(h.r.ID, r)
	}
	if h.exit {
		h.mu.Lock()
		h.pending = append(h.pending, steps...)
		h.mu.Unlock()
		h.last, h.r.Checkpoint, h.r.CheckpointID, h.r.Resume = row, cp, row.ID, nil
		return nil
	}
	err := h.s.write(ctx, func(ctx context.Context, tx *db.Tx) error {
		moved, err := h.s.store.commitCheckpoint(ctx, tx, commitParams{row: row, steps: steps, leaseOwner: durable.Instance()})
		if err == nil && !moved {
			err = errLeaseLost // rolls back whatever was written
		}
		return err
	})
	if err == nil {
		h.r.Checkpoint, h.r.CheckpointID, h.r.Resume = cp, row.ID, nil
	}
	return err
}

// Emit sends an event to the local listener (a streaming caller, which
// gets every piece) and to the bus, where token deltas are coalesced.
func (h *hooks) Emit(e graph.Event) {
	if h.local != nil {
		h.local(e)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.deltas == nil {
		h.deltas = events.NewDeltas(func(data map[string]any) { h.s.publish(h.ctx, h.r, events.MessageDelta, data, true) })
	}
	if e.Type == events.MessageDelta {
		h.deltas.Add(e.Data)
		return
	}
	h.deltas.Flush()
	h.s.publish(h.ctx, h.r, e.Type, e.Data, false)
}

// publish tells the run's watchers, best effort.
func (s *Service) publish(ctx context.Context, r *Run, typ events.Type, data any, ephemeral bool) {
	events.PublishRun(ctx, s.bus, events.RunEvent{RunID: r.ID, OwnerID: r.OwnerID, Type: typ, Data: data, Ephemeral: ephemeral})
}

// requeue hands a run this process holds back to the queue.
func (s *Service) requeue(ctx context.Context, r *Run) error {
	if s.queue == nil {
		return nil
	}
	_, err := s.leases.Requeue(ctx, durable.RequeueParams{ID: r.ID, Enqueue: true,
		Set: func(q *bun.UpdateQuery) *bun.UpdateQuery { return q.Set("background = TRUE") }})
	return err
}

// finish stores how the run ended (or paused), if this process still
// holds it.
func (s *Service) finish(ctx context.Context, r *Run, out graph.Outcome, h *hooks) (*Run, error) {
	ctx = context.WithoutCancel(ctx)
	now := s.now().UTC()
	owner := r.LeaseOwner
	if owner == "" {
		owner = durable.Instance()
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
	var held []*StepRow
	var last *CheckpointRow
	if h != nil && h.exit {
		// Durability exit: the run's progress is written now, with its end.
		h.mu.Lock()
		held, last = h.pending, h.last
		h.mu.Unlock()
		if last != nil {
			r.CheckpointID = last.ID
		}
	}
	var n int64
	err := s.write(ctx, func(ctx context.Context, tx *db.Tx) error {
		res, err := tx.NewUpdate().Model(r).Column("status", "error_code", "error_message", "failed_node", "checkpoint", "checkpoint_id",
			"lease_owner", "resume", "interrupt_until", "finished_at").WherePK().Where("lease_owner = ?", owner).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ = res.RowsAffected(); n != 1 {
			return nil
		}
		return s.store.insertProgress(ctx, tx, last, held)
	})
	if err != nil {
		return nil, fmt.Errorf("workflow: finish run: %w", err)
	}
	if n != 1 {
		return s.store.reload(ctx, r.ID)
	}
	s.publish(ctx, r, finalEvent[r.Status], RunOut(r), false)
	s.afterRun(ctx, r)
	if ev := platformEvent[r.Status]; ev != "" {
		if _, err := s.Dispatch(ctx, r.OwnerID, ev, RunOut(r), r.WorkflowID); err != nil {
			s.log.Error("workflow: dispatch run event", "run", r.ID, "err", err)
		}
	}
	return r, nil
}

var platformEvent = map[string]string{StatusSucceeded: EventWorkflowRunCompleted, StatusFailed: EventWorkflowRunFailed}

var finalEvent = map[string]events.Type{StatusSucceeded: events.RunCompleted, StatusFailed: events.RunFailed, StatusCancelled: events.RunCancelled,
	StatusInterrupted: events.RunInterrupted}

var _ graph.Hooks = (*hooks)(nil)

// write commits fn with other runs' writes when a batcher is configured
// (many runs in flight share commits), else in its own transaction.
func (s *Service) write(ctx context.Context, fn func(ctx context.Context, tx *db.Tx) error) error {
	if s.batch != nil {
		return s.batch.Do(ctx, fn)
	}
	return s.db.InTx(context.WithoutCancel(ctx), fn)
}
