package run

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/durable"
	"github.com/pulse-run/pulse/internal/platform/events"
)

// errLeaseLost means another worker took the run over (this one was
// thought dead): this one must stop without writing anything more.
var errLeaseLost = errors.New("run: lease lost to another worker")

// dbRecorder commits each step together with the run's checkpoint, and
// only while this process still holds the run's lease.
type dbRecorder struct {
	db    *db.DB
	runID string
	owner string
	now   func() time.Time
}

// recorder is the recorder for run runID executing in this process: the
// one place that builds a dbRecorder, so a caller (a benchmark, too)
// cannot leave its lease owner or clock unset.
func (s *Service) recorder(runID string) dbRecorder {
	return dbRecorder{db: s.db, runID: runID, owner: durable.Instance(), now: s.now}
}

func (r dbRecorder) Step(ctx context.Context, s *Step, st *State) error {
	s.RunID = r.runID
	ctx = context.WithoutCancel(ctx)
	return r.db.W.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if st != nil {
			res, err := tx.NewUpdate().Model((*Run)(nil)).Set("state = ?", st).Set("heartbeat_at = ?", r.now().UTC()).
				Where("id = ? AND lease_owner = ?", r.runID, r.owner).Exec(ctx)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return errLeaseLost
			}
		}
		_, err := tx.NewInsert().Model(s).Exec(ctx)
		return err
	})
}

// execute runs r from its checkpoint in this process and stores how it
// ended (a foreground run, or an approval decided in the request).
func (s *Service) execute(ctx context.Context, r *Run, local func(Event)) (*Run, error) {
	o, err := s.run(ctx, r, local)
	if errors.Is(err, errLeaseLost) {
		return s.reload(context.WithoutCancel(ctx), r.ID)
	}
	if err != nil {
		return nil, err
	}
	return s.finish(ctx, r, o.Outcome)
}

// emitter sends the loop's events to the local listener (a streaming
// caller, which gets every piece) and to the bus, where token deltas are
// ephemeral and coalesced (events.Deltas). The loop emits from one
// goroutine.
func (s *Service) emitter(ctx context.Context, r *Run, local func(Event)) func(Event) {
	deltas := events.NewDeltas(func(data map[string]any) { s.publish(ctx, r, events.MessageDelta, data, true) })
	return func(e Event) {
		if local != nil {
			local(e)
		}
		if d, ok := e.Data.(map[string]any); ok && e.Type == events.MessageDelta {
			deltas.Add(d)
			return
		}
		deltas.Flush()
		s.publish(ctx, r, e.Type, e.Data, false)
	}
}

// publish tells the run's watchers, best effort.
func (s *Service) publish(ctx context.Context, r *Run, typ events.Type, data any, ephemeral bool) {
	events.PublishRun(ctx, s.bus, events.RunEvent{RunID: r.ID, OwnerID: r.OwnerID, Type: typ, Data: data, Ephemeral: ephemeral})
}

// finish stores how the loop ended, if this process still holds the run.
func (s *Service) finish(ctx context.Context, r *Run, out Outcome) (*Run, error) {
	ctx = context.WithoutCancel(ctx)
	if out.Status == StatusSucceeded && r.ConversationID != "" && r.State != nil {
		// Only a finished exchange joins the conversation: a failed run can
		// leave a tool call without its result, which providers reject.
		conv := &Conversation{ID: r.ConversationID}
		if err := s.appendMessages(ctx, conv, r.ID, r.State.Mark-1, out.Messages); err != nil {
			return nil, fmt.Errorf("run: save conversation: %w", err)
		}
	}
	r.Status, r.Output, r.ErrorCode, r.ErrorMessage, r.State = out.Status, out.Output, out.ErrorCode, out.ErrorMessage, out.State
	if out.ErrorCode == CodeCancelled {
		r.Status = StatusCancelled
	}
	r.InputTokens, r.OutputTokens, r.CostMicros = out.Usage.InputTokens, out.Usage.OutputTokens, out.CostMicros
	r.FinishedAt = nil
	if r.Status != StatusRequiresAction {
		end := s.now().UTC()
		r.FinishedAt = &end
	}
	owner := r.LeaseOwner
	r.LeaseOwner = ""
	res, err := s.db.W.NewUpdate().Model(r).Column("status", "output", "error_code", "error_message", "state", "input_tokens", "output_tokens",
		"cost_micros", "finished_at", "lease_owner").WherePK().Where("lease_owner = ?", owner).Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("run: finish: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return s.reload(ctx, r.ID)
	}
	final := map[Status]events.Type{StatusSucceeded: events.RunCompleted, StatusFailed: events.RunFailed, StatusCancelled: events.RunCancelled,
		StatusRequiresAction: events.RunRequiresAction}[r.Status]
	s.publish(ctx, r, final, runOut(r), false)
	if s.observer != nil && (r.Status == StatusSucceeded || r.Status == StatusFailed) {
		s.observer.RunEnded(ctx, r)
	}
	return r, nil
}

// reload reads a run without an owner check (internal use).
func (s *Service) reload(ctx context.Context, id string) (*Run, error) {
	r := &Run{}
	if err := s.db.R.NewSelect().Model(r).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, err
	}
	return r, nil
}
