package workflow

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/durable"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/workflow/graph"
)

// StartParams is a run request.
type StartParams struct {
	WorkflowID string
	Version    int             // 0: the published version, else the latest
	Input      json.RawMessage // a JSON object: the initial state (or, on a thread, an update to it)
	ThreadID   string
	Background bool
	Origin     string // api (default), cron, webhook, event
}

// decodeObject reads a JSON object; empty is {}.
func decodeObject(raw json.RawMessage, path string) (map[string]any, error) {
	out := map[string]any{}
	if len(raw) == 0 || string(raw) == "null" {
		return out, nil
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, apperr.InvalidField(path, "must be a JSON object")
	}
	return out, nil
}

// Start checks a run request and stores the run, ready to execute here
// (foreground: this process holds it) or queued for a worker. Everything
// that can be refused is refused here, before any streaming starts.
func (s *Service) Start(ctx context.Context, p StartParams) (*Run, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return nil, err
	}
	if p.Background && s.queue == nil {
		return nil, apperr.New(apperr.Unavailable, "background runs are not available")
	}
	w, err := s.store.workflow(ctx, pr.UserID, p.WorkflowID)
	if err != nil {
		return nil, err
	}
	version := p.Version
	switch {
	case version == 0 && w.PublishedVersion > 0:
		version = w.PublishedVersion
	case version == 0:
		version = w.LatestVersion
	case version < 0 || version > w.LatestVersion:
		return nil, apperr.InvalidField("body.version", fmt.Sprintf("the workflow has versions 1 to %d", w.LatestVersion))
	}
	g, err := s.compiled(ctx, w.ID, version)
	if err != nil {
		return nil, err
	}
	input, err := decodeObject(p.Input, "body.input")
	if err != nil {
		return nil, err
	}
	if p.Origin == "" {
		p.Origin = "api"
	}
	// A run started while another executes (an event trigger fired by
	// its end or by its agent nodes' runs) inherits its chain.
	r := &Run{ID: ids.New(), WorkflowID: w.ID, Version: version, OwnerID: pr.UserID, ThreadID: p.ThreadID, Origin: p.Origin,
		Input: p.Input, CreatedAt: s.now().UTC(), Background: p.Background, TriggerChain: db.JSON[[]string]{V: ChainOf(ctx)}}
	if len(r.Input) == 0 || string(r.Input) == "null" {
		r.Input = json.RawMessage("{}")
	}
	if p.ThreadID != "" {
		return s.startOnThread(ctx, g, r, input)
	}
	if err := g.ValidateState(input); err != nil {
		return nil, apperr.InvalidField("body.input", "does not fit the workflow's state schema: "+err.Error())
	}
	r.Checkpoint = g.Start(input)
	if err := s.insert(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// insert stores a new run: held by this process, or queued with its job
// in the same transaction.
func (s *Service) insert(ctx context.Context, r *Run) error {
	if err := s.write(ctx, func(ctx context.Context, tx *db.Tx) error { return s.insertTx(ctx, tx, r) }); err != nil {
		return err
	}
	r.fresh = true
	s.publish(ctx, r, events.RunCreated, RunOut(r), false)
	return nil
}

func (s *Service) insertTx(ctx context.Context, tx *db.Tx, r *Run) error {
	now := s.now().UTC()
	deadline := now.Add(s.timeout)
	if r.Status == "" {
		r.Status = StatusRunning
		if r.Background {
			r.Status = StatusQueued
		}
	}
	if r.Status == StatusRunning {
		r.LeaseOwner, r.HeartbeatAt, r.StartedAt, r.Attempt, r.DeadlineAt = durable.Instance(), &now, &now, 1, &deadline
	}
	if _, err := tx.NewInsert().Model(r).Exec(ctx); err != nil {
		return fmt.Errorf("workflow: create run: %w", err)
	}
	if r.Status == StatusQueued {
		_, err := s.queue.InsertTx(ctx, tx, JobArgs{RunID: r.ID}, nil)
		return err
	}
	return nil
}

// Execute runs a started run to its end or its next pause, unless it was
// queued (then it returns it as it is). local gets every event.
func (s *Service) Execute(ctx context.Context, r *Run, local func(graph.Event)) (*Run, error) {
	if r.Status != StatusRunning || r.LeaseOwner != durable.Instance() {
		return r, nil
	}
	return s.execute(ctx, r, local)
}

// Get returns one of the caller's runs; anyone else's is "not found".
func (s *Service) GetRun(ctx context.Context, id string) (*Run, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, err
	}
	return s.store.run(ctx, pr.UserID, id)
}

// CanSee reports whether the caller may follow a run's events.
func (s *Service) CanSee(ctx context.Context, id string) error {
	_, err := s.GetRun(ctx, id)
	return err
}

// RunListParams pages through runs.
type RunListParams struct {
	WorkflowID, ThreadID, Status, Cursor string
	Limit                                int
}

// Runs lists the caller's runs, newest first (without their state).
func (s *Service) Runs(ctx context.Context, p RunListParams) ([]Run, string, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, "", err
	}
	p.Limit = db.PageLimit(p.Limit)
	out, err := s.store.runs(ctx, runListParams{ownerID: pr.UserID, workflowID: p.WorkflowID, threadID: p.ThreadID, status: p.Status,
		cursor: p.Cursor, limit: p.Limit + 1})
	if err != nil {
		return nil, "", err
	}
	out, next := db.Page(out, p.Limit, func(r *Run) string { return r.ID })
	return out, next, nil
}

// Steps returns a run's node records, in order: its decision trace.
func (s *Service) Steps(ctx context.Context, id string) ([]StepRow, error) {
	r, err := s.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.store.steps(ctx, r.ID)
}

// Checkpoints returns a run's checkpoints, newest first.
func (s *Service) Checkpoints(ctx context.Context, id string) ([]CheckpointRow, error) {
	r, err := s.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.store.checkpoints(ctx, r.ID)
}

// Resume answers a run waiting for input. A background run is queued; a
// foreground one is held by this process, for Execute.
func (s *Service) Resume(ctx context.Context, id string, answer json.RawMessage) (*Run, error) {
	if _, err := authn.RequireScope(ctx, authn.ScopeWrite); err != nil {
		return nil, err
	}
	r, err := s.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Status != StatusInterrupted || r.Checkpoint == nil || r.Checkpoint.Interrupt == nil {
		return nil, apperr.Errorf(apperr.Conflict, "the run is %s, not waiting for input", r.Status)
	}
	if len(answer) == 0 || string(answer) == "null" {
		return nil, apperr.InvalidField("body.input", "is required: the answer to the form")
	}
	g, err := s.compiled(ctx, r.WorkflowID, r.Version)
	if err != nil {
		return nil, err
	}
	if err := g.ValidateAnswer(r.Checkpoint.Interrupt.Node, answer); err != nil {
		return nil, apperr.InvalidField("body.input", "does not fit the form: "+err.Error())
	}
	return s.answer(ctx, r, answer, !r.Background)
}

// answer sets a waiting run's answer and makes it runnable: held here
// (hold) or queued. Only one answer wins.
func (s *Service) answer(ctx context.Context, r *Run, answer json.RawMessage, hold bool) (*Run, error) {
	now := s.now().UTC()
	deadline := now.Add(s.timeout)
	var n int64
	err := s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		q := tx.NewUpdate().Model((*Run)(nil)).Set("resume = ?", string(answer)).Set("interrupt_until = NULL").
			Set("deadline_at = ?", deadline).Where("id = ? AND status = ?", r.ID, StatusInterrupted)
		if hold {
			q = s.leases.Hold(q).Set("attempt = attempt + 1")
		} else {
			q = q.Set("status = ?", StatusQueued).Set("lease_owner = ''")
		}
		res, err := q.Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ = res.RowsAffected(); n != 1 || hold {
			return nil
		}
		_, err = s.queue.InsertTx(ctx, tx, JobArgs{RunID: r.ID}, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	if n != 1 {
		return nil, apperr.New(apperr.Conflict, "the run was answered already")
	}
	return s.store.reload(ctx, r.ID)
}

// ForkParams starts a new run from one of a run's checkpoints.
type ForkParams struct {
	RunID        string
	CheckpointID string
	StatePatch   json.RawMessage // merged through the reducers
	Background   bool
}

// Fork starts a new run from a checkpoint of another (time travel): the
// state at that point, optionally patched, on the same version. The
// original run is not touched.
func (s *Service) Fork(ctx context.Context, p ForkParams) (*Run, error) {
	if _, err := authn.RequireScope(ctx, authn.ScopeWrite); err != nil {
		return nil, err
	}
	if p.Background && s.queue == nil {
		return nil, apperr.New(apperr.Unavailable, "background runs are not available")
	}
	src, err := s.GetRun(ctx, p.RunID)
	if err != nil {
		return nil, err
	}
	if p.CheckpointID == "" {
		return nil, apperr.InvalidField("body.checkpoint_id", "is required")
	}
	row, err := s.store.checkpoint(ctx, src.ID, p.CheckpointID)
	if err != nil {
		return nil, apperr.InvalidField("body.checkpoint_id", "is not a checkpoint of this run")
	}
	g, err := s.compiled(ctx, src.WorkflowID, src.Version)
	if err != nil {
		return nil, err
	}
	patch, err := decodeObject(p.StatePatch, "body.state_patch")
	if err != nil {
		return nil, err
	}
	cp := *row.Data
	if cp.State, err = g.Apply(cp.State, patch); err != nil {
		return nil, apperr.InvalidField("body.state_patch", err.Error())
	}
	if err := g.ValidateState(cp.State); err != nil {
		return nil, apperr.InvalidField("body.state_patch", "the patched state does not fit the schema: "+err.Error())
	}
	cp.Interrupt = nil
	r := &Run{ID: ids.New(), WorkflowID: src.WorkflowID, Version: src.Version, OwnerID: src.OwnerID, Origin: "fork",
		Input: src.Input, Checkpoint: &cp, ForkedFrom: row.ID, CreatedAt: s.now().UTC(), Background: p.Background}
	if err := s.insert(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// Cancel stops a run wherever it is: here at once, in another process
// within a heartbeat (or at once through the bus), queued or waiting at
// once.
func (s *Service) Cancel(ctx context.Context, id string) (*Run, error) {
	if _, err := authn.RequireScope(ctx, authn.ScopeWrite); err != nil {
		return nil, err
	}
	r, err := s.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	// A run that has ended is a conflict even while its executor is still
	// unwinding here (registered, so Interrupt would accept it).
	if r.Finished() {
		return nil, apperr.Errorf(apperr.Conflict, "the run already ended (%s)", r.Status)
	}
	how, err := s.leases.Cancel(ctx, durable.CancelParams{ID: r.ID, Settle: []string{StatusQueued, StatusInterrupted, StatusPending}})
	if err != nil {
		return nil, err
	}
	switch how {
	case durable.Settled:
		out, err := s.store.reload(ctx, r.ID)
		if err == nil {
			s.publish(ctx, out, events.RunCancelled, RunOut(out), false)
			s.afterRun(ctx, out)
		}
		return out, err
	case durable.Left:
		// It left "running" meanwhile. A cancel remembered while the run
		// was being claimed may be what ended it: that is this cancel
		// taking effect, not a conflict.
		cur, err := s.store.reload(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		if cur.Status == StatusCancelled && !r.Finished() {
			return cur, nil
		}
		return nil, apperr.Errorf(apperr.Conflict, "the run already ended (%s)", cur.Status)
	}
	// Interrupted here, or requested of the process that holds it.
	return durable.AwaitEnd(ctx, func(ctx context.Context) (*Run, bool, error) {
		cur, err := s.store.reload(ctx, r.ID)
		return cur, err == nil && cur.Finished(), err
	})
}

// JobArgs is the queue job that executes (or resumes) a workflow run.
type JobArgs struct {
	RunID string `json:"run_id"`
}

// Kind implements river.JobArgs.
func (JobArgs) Kind() string { return "workflow_run" }

// InsertOpts retries a run whose process failed outside the workflow.
func (JobArgs) InsertOpts() river.InsertOpts { return durable.InsertOpts() }
