package run

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/agent"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/durable"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/tool"
)

// Agents gives the run service the agents a caller may run
// (internal/agent implements it).
type Agents interface {
	AgentLoader
	ForRun(ctx context.Context, id string) (*agent.Spec, int, error)
}

// Keys gives a user's own model providers (internal/providerkey
// implements it); they win over the platform's for that user's runs.
type Keys interface {
	ProvidersFor(ctx context.Context, userID string) (map[string]llm.Provider, error)
}

// Publisher sends run events to everyone watching, in every process
// (internal/platform/events implements it).
type Publisher interface {
	Publish(ctx context.Context, ev events.Event) (string, error)
}

// Enqueuer puts a job on the queue inside a transaction (the queue
// implements it), so a background run and its job commit together.
type Enqueuer interface {
	InsertTx(ctx context.Context, tx *db.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Observer hears of runs that ended (workflows' event triggers listen).
type Observer interface {
	RunEnded(ctx context.Context, r *Run)
}

// Service starts runs and reads them back.
type Service struct {
	observer Observer // may be nil
	db       *db.DB
	agents   Agents
	keys     Keys // may be nil
	loop     *Loop
	now      func() time.Time
	bus      Publisher // may be nil
	queue    Enqueuer  // nil: no background runs
	timeout  time.Duration
	leases   *durable.Leases[*Run] // claims, renews, reaps and cancels runs
}

// Params builds the service.
type Params struct {
	DB     *db.DB
	Agents Agents
	Keys   Keys // nil: only platform providers
	Models *llm.Registry
	Prices *llm.Prices
	Tools  *tool.Runtime // nil: built-in tools only
	Now    func() time.Time
	Tracer trace.Tracer // nil: no spans
	Bus    Publisher    // nil: events reach only a streaming caller
	Queue  Enqueuer     // nil: background runs are refused
	// Durable is the process's durable core, which holds runs' leases and
	// works their queue jobs (nil: a core of the service's own, not
	// started, with Lease).
	Durable *durable.Core
	// Lease is how long a run's worker may go silent before the run is
	// given to another, for a core of its own.
	Lease time.Duration
	// Timeout is a run's deadline from its creation (default 30 min).
	Timeout time.Duration
	// Observer hears of every run that succeeded or failed; nil: nobody.
	Observer Observer
}

// New returns the service.
func New(p Params) *Service {
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Tools == nil {
		p.Tools = tool.NewRuntime(p.Now)
	}
	if p.Timeout <= 0 {
		p.Timeout = durable.DefaultTimeout
	}
	loop := &Loop{Models: p.Models, Agents: p.Agents, Tools: p.Tools, Prices: p.Prices, Now: p.Now, Tracer: p.Tracer}
	s := &Service{db: p.DB, agents: p.Agents, keys: p.Keys, loop: loop, now: p.Now, bus: p.Bus, queue: p.Queue,
		timeout: p.Timeout, observer: p.Observer}
	if p.Durable == nil {
		// The service's clock, read at each use: tests move it.
		p.Durable = durable.New(durable.Params{DB: p.DB, Queue: p.Queue, Lease: p.Lease, Now: func() time.Time { return s.now() }})
	}
	s.leases = durable.AddTable(p.Durable, s.durableTable())
	durable.AddKind(p.Durable, s.durableKind())
	return s
}

// withKeys puts the run owner's own providers in the run's context.
func (s *Service) withKeys(ctx context.Context, ownerID string) (context.Context, error) {
	if s.keys == nil {
		return ctx, nil
	}
	own, err := s.keys.ProvidersFor(ctx, ownerID)
	if err != nil {
		return nil, err
	}
	return llm.WithOverrides(ctx, ownerID, own), nil
}

// StartParams is a run request.
type StartParams struct {
	AgentID        string
	Input          string
	ConversationID string // empty: start a new conversation
	Background     bool   // queue it and return at once
}

// Prepared is a run that passed every check and is stored, ready to start.
type Prepared struct {
	Run *Run
}

// RunNow runs an agent to completion and returns the finished run. Failures
// of the model or tools are recorded outcomes, not errors.
func (s *Service) RunNow(ctx context.Context, p StartParams) (*Run, error) {
	prep, err := s.Prepare(ctx, p)
	if err != nil {
		return nil, err
	}
	if p.Background {
		return prep.Run, nil
	}
	return s.Execute(ctx, prep, nil)
}

// Prepare checks a run request and stores the run with its starting state.
// Everything that can be refused is refused here, before any streaming
// starts. A background run is queued in the same transaction.
func (s *Service) Prepare(ctx context.Context, p StartParams) (*Prepared, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(p.Input) == "" || len(p.Input) > 200_000 {
		return nil, apperr.InvalidField("body.input", "must be 1 to 200,000 characters")
	}
	if p.Background && s.queue == nil {
		return nil, apperr.New(apperr.Unavailable, "background runs are not available")
	}
	spec, version, err := s.agents.ForRun(ctx, p.AgentID)
	if err != nil {
		return nil, err
	}
	conv, history, err := s.conversationFor(ctx, pr.UserID, p.AgentID, p.ConversationID)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	deadline := now.Add(s.timeout)
	r := &Run{ID: ids.New(), AgentID: p.AgentID, AgentVersion: version, ConversationID: conv.ID, OwnerID: pr.UserID,
		Status: StatusRunning, Input: p.Input, CreatedAt: now, StartedAt: &now, State: NewState(*spec, p.Input, history),
		LeaseOwner: durable.Instance(), HeartbeatAt: &now, DeadlineAt: &deadline, Attempt: 1}
	if p.Background {
		r.Status, r.StartedAt, r.LeaseOwner, r.HeartbeatAt, r.Attempt, r.Background = StatusQueued, nil, "", nil, 0, true
		r.JobID = r.ID
		err = s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			if _, err := tx.NewInsert().Model(r).Exec(ctx); err != nil {
				return err
			}
			_, err := s.queue.InsertTx(ctx, tx, JobArgs{RunID: r.ID}, nil)
			return err
		})
	} else {
		_, err = s.db.W.NewInsert().Model(r).Exec(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("run: create: %w", err)
	}
	s.publish(ctx, r, events.RunCreated, runOut(r), false)
	return &Prepared{Run: r}, nil
}

// Execute runs a prepared run to its end (or to a pause for approval),
// reporting progress to events as well as to the bus.
func (s *Service) Execute(ctx context.Context, prep *Prepared, events func(Event)) (*Run, error) {
	return s.execute(ctx, prep.Run, events)
}

// Decide approves or rejects the tool calls a paused run waits on. A
// foreground run continues here; a background one is queued. Only one
// decision wins; the others get a conflict.
func (s *Service) Decide(ctx context.Context, id string, approve bool, reason string, events func(Event)) (*Run, error) {
	// The scope first, so a read-only key learns nothing from the lookup.
	if _, err := authn.RequireScope(ctx, authn.ScopeWrite); err != nil {
		return nil, err
	}
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Status != StatusRequiresAction || r.State == nil {
		return nil, apperr.Errorf(apperr.Conflict, "the run is %s, not waiting for approval", r.Status)
	}
	if len(reason) > 1000 {
		reason = reason[:1000]
	}
	st := r.State
	st.Decision = &Decision{Approved: approve, Reason: reason}
	now := s.now().UTC()
	q := func(db bun.IDB) *bun.UpdateQuery {
		return db.NewUpdate().Model((*Run)(nil)).Set("state = ?", st).Where("id = ? AND status = ?", r.ID, StatusRequiresAction)
	}
	var n int64
	if r.Background {
		err = s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			res, err := q(tx).Set("status = ?", StatusQueued).Set("lease_owner = ''").Exec(ctx)
			if err != nil {
				return err
			}
			if n, _ = res.RowsAffected(); n != 1 {
				return nil
			}
			_, err = s.queue.InsertTx(ctx, tx, JobArgs{RunID: r.ID}, nil)
			return err
		})
	} else {
		var res sql.Result
		res, err = s.leases.Hold(q(s.db.W)).Exec(ctx)
		if err == nil {
			n, _ = res.RowsAffected()
		}
	}
	if err != nil {
		return nil, err
	}
	if n != 1 {
		return nil, apperr.New(apperr.Conflict, "the run is no longer waiting for approval")
	}
	if r.Background {
		return s.Get(ctx, id)
	}
	r.Status, r.LeaseOwner, r.HeartbeatAt = StatusRunning, durable.Instance(), &now
	return s.execute(ctx, r, events)
}

// Cancel stops a run: one executing here is interrupted at once, one
// executing in another process within a second (through the bus), one
// queued or waiting for approval ends at once.
func (s *Service) Cancel(ctx context.Context, id string) (*Run, error) {
	// The scope first, so a read-only key learns nothing from the lookup.
	if _, err := authn.RequireScope(ctx, authn.ScopeWrite); err != nil {
		return nil, err
	}
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	// A run that has ended is a conflict even while its executor is still
	// unwinding here (registered, so Interrupt would accept it).
	if r.Finished() {
		return nil, apperr.Errorf(apperr.Conflict, "the run already ended (%s)", r.Status)
	}
	how, err := s.leases.Cancel(ctx, durable.CancelParams{ID: r.ID, Settle: []string{string(StatusQueued), string(StatusRequiresAction)},
		Set: func(q *bun.UpdateQuery) *bun.UpdateQuery { return q.Set("state = NULL") }})
	if err != nil {
		return nil, err
	}
	switch how {
	case durable.Settled:
		out, err := s.Get(ctx, id)
		if err == nil {
			s.publish(ctx, out, events.RunCancelled, runOut(out), false)
		}
		return out, err
	case durable.Left:
		// It left "running" meanwhile. A cancel remembered while the run
		// was being claimed may be what ended it: that is this cancel
		// taking effect, not a conflict.
		cur, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if cur.Status == StatusCancelled && r.Status != StatusCancelled {
			return cur, nil
		}
		return nil, apperr.Errorf(apperr.Conflict, "the run already ended (%s)", cur.Status)
	}
	// Interrupted here, or requested of the process that holds it.
	return durable.AwaitEnd(ctx, func(ctx context.Context) (*Run, bool, error) {
		r, err := s.Get(ctx, id)
		return r, err == nil && r.FinishedAt != nil, err
	})
}

// CanSee reports whether the caller may see a run (realtime
// subscriptions ask): another user's is apperr.NotFound.
func (s *Service) CanSee(ctx context.Context, id string) error {
	_, err := s.Get(ctx, id)
	return err
}

// Get returns one of the caller's runs; anyone else's is "not found".
func (s *Service) Get(ctx context.Context, id string) (*Run, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, err
	}
	r := &Run{}
	err = s.db.R.NewSelect().Model(r).Where("id = ? AND owner_id = ?", id, pr.UserID).Scan(ctx)
	if db.IsNoRows(err) {
		return nil, apperr.New(apperr.NotFound, "run not found")
	}
	return r, err
}

// Steps returns a run's decision trace, in order.
func (s *Service) Steps(ctx context.Context, id string) ([]Step, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	var out []Step
	err := s.db.R.NewSelect().Model(&out).Where("run_id = ?", id).Order("seq").Scan(ctx)
	return out, err
}

// ListParams filter the caller's runs.
type ListParams struct {
	AgentID string
	Status  Status
	Cursor  string
	Limit   int
}

// List returns the caller's runs, newest first.
func (s *Service) List(ctx context.Context, p ListParams) ([]Run, string, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, "", err
	}
	p.Limit = db.PageLimit(p.Limit)
	var out []Run
	q := s.db.R.NewSelect().Model(&out).Where("owner_id = ?", pr.UserID).Order("id DESC").Limit(int64(p.Limit + 1))
	if p.AgentID != "" {
		q = q.Where("agent_id = ?", p.AgentID)
	}
	if p.Status != "" {
		q = q.Where("status = ?", p.Status)
	}
	if p.Cursor != "" {
		q = q.Where("id < ?", p.Cursor)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, "", err
	}
	out, next := db.Page(out, p.Limit, func(r *Run) string { return r.ID })
	return out, next, nil
}

// StartAgentRun queues a background run from a job payload
// {agent_id, input, conversation_id?} and returns its id (its job id).
func (s *Service) StartAgentRun(ctx context.Context, payload json.RawMessage) (string, error) {
	var p struct {
		AgentID        string `json:"agent_id"`
		Input          string `json:"input"`
		ConversationID string `json:"conversation_id"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return "", apperr.InvalidField("body.payload", err.Error())
	}
	prep, err := s.Prepare(ctx, StartParams{AgentID: p.AgentID, Input: p.Input, ConversationID: p.ConversationID, Background: true})
	if err != nil {
		return "", err
	}
	return prep.Run.ID, nil
}

// RunJob reports a background run as a job: its status, output and error.
func (s *Service) RunJob(ctx context.Context, id string) (string, json.RawMessage, string, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return "", nil, "", err
	}
	if !r.Background {
		return "", nil, "", apperr.New(apperr.NotFound, "job not found")
	}
	msg := r.ErrorMessage
	if r.ErrorCode != "" && r.Status == StatusFailed {
		msg = string(r.ErrorCode) + ": " + r.ErrorMessage
	}
	return string(r.Status), r.Output, msg, nil
}
