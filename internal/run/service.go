package run

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/agent"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
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

// Service starts runs and reads them back.
type Service struct {
	db     *db.DB
	agents Agents
	keys   Keys // may be nil
	loop   *Loop
	now    func() time.Time
	active sync.Map // run id -> context.CancelFunc, for runs executing here
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
}

// New returns the service.
func New(p Params) *Service {
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Tools == nil {
		p.Tools = tool.NewRuntime(p.Now)
	}
	loop := &Loop{Models: p.Models, Agents: p.Agents, Tools: p.Tools, Prices: p.Prices, Now: p.Now, Tracer: p.Tracer}
	return &Service{db: p.DB, agents: p.Agents, keys: p.Keys, loop: loop, now: p.Now}
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

// dbRecorder commits each step as it happens.
type dbRecorder struct {
	db    *db.DB
	runID string
}

func (r dbRecorder) Step(ctx context.Context, s *Step) error {
	s.RunID = r.runID
	_, err := r.db.W.NewInsert().Model(s).Exec(context.WithoutCancel(ctx))
	return err
}

// StartParams is a run request.
type StartParams struct {
	AgentID        string
	Input          string
	ConversationID string // empty: start a new conversation
}

// Prepared is a run that passed every check and is stored, ready to start.
type Prepared struct {
	Run     *Run
	spec    *agent.Spec
	conv    *Conversation
	history []llm.Message
}

// RunNow runs an agent to completion and returns the finished run. Failures
// of the model or tools are recorded outcomes, not errors.
func (s *Service) RunNow(ctx context.Context, p StartParams) (*Run, error) {
	prep, err := s.Prepare(ctx, p)
	if err != nil {
		return nil, err
	}
	return s.Execute(ctx, prep, nil)
}

// Prepare checks a run request and stores the run. Everything that can be
// refused is refused here, before any streaming starts.
func (s *Service) Prepare(ctx context.Context, p StartParams) (*Prepared, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(p.Input) == "" || len(p.Input) > 200_000 {
		return nil, apperr.InvalidField("body.input", "must be 1 to 200,000 characters")
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
	r := &Run{ID: ids.New(), AgentID: p.AgentID, AgentVersion: version, ConversationID: conv.ID, OwnerID: pr.UserID,
		Status: StatusRunning, Input: p.Input, CreatedAt: now, StartedAt: &now}
	if _, err := s.db.W.NewInsert().Model(r).Exec(ctx); err != nil {
		return nil, fmt.Errorf("run: create: %w", err)
	}
	return &Prepared{Run: r, spec: spec, conv: conv, history: history}, nil
}

// Execute runs a prepared run to its end (or to a pause for approval),
// reporting progress to events.
func (s *Service) Execute(ctx context.Context, prep *Prepared, events func(Event)) (*Run, error) {
	r := prep.Run
	ctx, err := s.withKeys(ctx, r.OwnerID)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.track(ctx, r.ID)
	defer cancel()
	out := s.loop.Execute(ctx, LoopParams{RunID: r.ID, Spec: *prep.spec, Input: r.Input, History: prep.history,
		Recorder: dbRecorder{db: s.db, runID: r.ID}, Events: events})
	return s.finish(ctx, r, prep.conv, len(prep.history), out)
}

// track makes a run cancellable while it executes in this process.
func (s *Service) track(ctx context.Context, runID string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	s.active.Store(runID, cancel)
	return ctx, func() {
		s.active.Delete(runID)
		cancel()
	}
}

// finish stores how the loop ended.
func (s *Service) finish(ctx context.Context, r *Run, conv *Conversation, historyLen int, out Outcome) (*Run, error) {
	ctx = context.WithoutCancel(ctx)
	if out.Status == StatusSucceeded && conv != nil {
		// Only a finished exchange joins the conversation: a failed run can
		// leave a tool call without its result, which providers reject.
		if err := s.appendMessages(ctx, conv, r.ID, historyLen, out.Messages); err != nil {
			return nil, fmt.Errorf("run: save conversation: %w", err)
		}
	}
	r.Status, r.Output, r.ErrorCode, r.ErrorMessage, r.State = out.Status, out.Output, out.ErrorCode, out.ErrorMessage, out.State
	if out.ErrorCode == "cancelled" {
		r.Status = StatusCancelled
	}
	r.InputTokens, r.OutputTokens, r.CostMicros = out.Usage.InputTokens, out.Usage.OutputTokens, out.CostMicros
	r.FinishedAt = nil
	if r.Status != StatusRequiresAction {
		end := s.now().UTC()
		r.FinishedAt = &end
	}
	_, err := s.db.W.NewUpdate().Model(r).Column("status", "output", "error_code", "error_message", "state", "input_tokens", "output_tokens", "cost_micros", "finished_at").
		WherePK().Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("run: finish: %w", err)
	}
	return r, nil
}

// Decide approves or rejects the tool calls a paused run waits on, and
// continues the run. Only one decision wins; the others get a conflict.
func (s *Service) Decide(ctx context.Context, id string, approve bool, reason string, events func(Event)) (*Run, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := authn.RequireScope(ctx, authn.ScopeWrite); err != nil {
		return nil, err
	}
	res, err := s.db.W.NewUpdate().Model((*Run)(nil)).Set("status = ?", StatusRunning).
		Where("id = ? AND status = ?", r.ID, StatusRequiresAction).Exec(ctx)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n != 1 || r.State == nil {
		return nil, apperr.Errorf(apperr.Conflict, "the run is %s, not waiting for approval", r.Status)
	}
	if len(reason) > 1000 {
		reason = reason[:1000]
	}
	var conv *Conversation
	if r.ConversationID != "" {
		conv = &Conversation{ID: r.ConversationID}
	}
	st := r.State
	historyLen := st.Mark - 1 // the system message is not part of the conversation
	if ctx, err = s.withKeys(ctx, r.OwnerID); err != nil {
		return nil, err
	}
	ctx, cancel := s.track(ctx, r.ID)
	defer cancel()
	out := s.loop.Resume(ctx, LoopParams{RunID: r.ID, Spec: st.Spec, Recorder: dbRecorder{db: s.db, runID: r.ID}, Events: events}, st, approve, reason)
	return s.finish(ctx, r, conv, historyLen, out)
}

// Cancel stops a run: one executing here is interrupted, one waiting for
// approval ends at once.
func (s *Service) Cancel(ctx context.Context, id string) (*Run, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := authn.RequireScope(ctx, authn.ScopeWrite); err != nil {
		return nil, err
	}
	if c, ok := s.active.Load(r.ID); ok {
		c.(context.CancelFunc)()
		return r, nil
	}
	now := s.now().UTC()
	res, err := s.db.W.NewUpdate().Model((*Run)(nil)).Set("status = ?", StatusCancelled).Set("error_code = 'cancelled'").
		Set("error_message = 'cancelled by the user'").Set("finished_at = ?", now).Set("state = NULL").
		Where("id = ? AND status IN (?)", r.ID, bun.In([]string{StatusQueued, StatusRequiresAction})).Exec(ctx)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, apperr.Errorf(apperr.Conflict, "the run already ended (%s)", r.Status)
	}
	return s.Get(ctx, id)
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
	Status  string
	Cursor  string
	Limit   int
}

// List returns the caller's runs, newest first.
func (s *Service) List(ctx context.Context, p ListParams) ([]Run, string, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, "", err
	}
	if p.Limit <= 0 || p.Limit > 100 {
		p.Limit = 20
	}
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
	next := ""
	if len(out) > p.Limit {
		out = out[:p.Limit]
		next = out[p.Limit-1].ID
	}
	return out, next, nil
}
