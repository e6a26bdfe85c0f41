package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/durable"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/platform/kv"
	"github.com/pulse-run/pulse/internal/platform/outbound"
	"github.com/pulse-run/pulse/internal/platform/queue"
	"github.com/pulse-run/pulse/internal/platform/ratelimit"
	"github.com/pulse-run/pulse/internal/platform/webhook"
	"github.com/pulse-run/pulse/internal/workflow/graph"
)

// Publisher sends run events to the bus.
type Publisher interface {
	Publish(ctx context.Context, ev events.Event) (string, error)
}

// Service holds the rules of workflows and their runs.
type Service struct {
	log      *slog.Logger
	db       *db.DB
	store    *store
	batch    *db.Batcher // nil: each write commits alone
	effects  graph.Effects
	tracer   trace.Tracer // nil: no spans
	bus      Publisher
	queue    *queue.Queue
	secrets  Secrets
	urls     URLChecker
	accounts Accounts                                  // nil: every owner counts as active
	limiter  ratelimit.Limiter                         // caps event-trigger firings
	userZone func(ctx context.Context) (string, error) // the caller's profile time zone; nil: UTC
	hookURL  string                                    // the public URL webhook triggers are called at, before the id
	hooks    *webhook.Receiver                         // checks signed webhook calls, once each
	now      func() time.Time
	timeout  time.Duration
	leases   *durable.Leases[*Run] // claims, renews, reaps and cancels runs

	graphs sync.Map // "workflow/version" -> *compiling: versions never change

	// dispatched, when set (tests only, see export_test.go), is called after
	// each Dispatch with what it started, so a test can tell "started
	// nothing" from "not dispatched yet".
	dispatched atomic.Pointer[func(event, fromWorkflow string, started []string)]
}

// Params builds a Service.
type Params struct {
	DB      *db.DB
	Effects *Effects // nil: only nodes that need nothing outside run
	Bus     Publisher
	Tracer  trace.Tracer // nil: no spans
	// Batch shares commits between runs in flight (nil: none).
	Batch   *db.Batcher
	Queue   *queue.Queue // nil: no background runs
	Secrets Secrets      // webhook secrets at rest
	// Webhooks checks signed calls and refuses replays (nil: a receiver
	// on DB).
	Webhooks *webhook.Receiver
	// Outbound refuses, at save, http node URLs that can never be public
	// (nil: outbound.Public()).
	Outbound URLChecker
	// Accounts tells deactivated owners, whose triggers start nothing.
	Accounts Accounts
	// Limiter caps how often one event trigger fires (nil: in memory,
	// this process only; pass the shared one so a cluster counts once).
	Limiter ratelimit.Limiter
	// UserZone gives the caller's time zone from their profile: cron
	// triggers without a timezone use it.
	UserZone func(ctx context.Context) (string, error)
	// PublicURL is where clients reach this server, for webhook URLs.
	PublicURL string
	Now       func() time.Time
	// Durable is the process's durable core, which holds runs' leases and
	// works their queue jobs (nil: a core of the service's own, not
	// started, with Lease).
	Durable *durable.Core
	Lease   time.Duration // how long a silent worker keeps a run, for a core of its own
	Timeout time.Duration // how long a run may take
	// Logger hears of failures no caller waits for (nil: nothing logged).
	Logger *slog.Logger
}

// New builds the service.
func New(p Params) *Service {
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Timeout == 0 {
		p.Timeout = durable.DefaultTimeout
	}
	if p.Outbound == nil {
		p.Outbound = outbound.Public()
	}
	if p.Limiter == nil {
		p.Limiter = ratelimit.NewMemory(p.Now)
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{log: p.Logger, db: p.DB, store: &store{db: p.DB}, bus: p.Bus, queue: p.Queue, now: p.Now, timeout: p.Timeout,
		secrets: p.Secrets, urls: p.Outbound, accounts: p.Accounts, limiter: p.Limiter, tracer: p.Tracer, batch: p.Batch, userZone: p.UserZone, hookURL: strings.TrimRight(p.PublicURL, "/") + "/api/v1/hooks/workflow-triggers/"}
	if s.hooks = p.Webhooks; s.hooks == nil {
		s.hooks = webhook.New(webhook.Params{KV: kv.New(p.DB, p.Now), Now: p.Now})
	}
	if p.Effects != nil {
		p.Effects.sub = s
		s.effects = p.Effects
	}
	if p.Durable == nil {
		// The service's clock, read at each use: tests move it.
		var q durable.Enqueuer // a nil *queue.Queue is no queue
		if p.Queue != nil {
			q = p.Queue
		}
		p.Durable = durable.New(durable.Params{DB: p.DB, Queue: q, Lease: p.Lease, Now: func() time.Time { return s.now() }})
	}
	s.leases = durable.AddTable(p.Durable, s.durableTable())
	durable.AddKind(p.Durable, s.durableKind())
	durable.AddKind(p.Durable, s.triggersKind())
	durable.AddKind(p.Durable, s.dispatchKind())
	return s
}

// Retention bounds the checkpoints kept of each run of a workflow.
type Retention struct {
	KeepLast   int   `json:"keep_last,omitempty" minimum:"0" maximum:"100000" doc:"checkpoints kept per run, newest first; 0 keeps all"`
	TTLSeconds int64 `json:"ttl_seconds,omitempty" minimum:"0" doc:"checkpoints older than this are deleted; 0 keeps them"`
}

// SaveParams creates or changes a workflow. A nil field is left as it is.
type SaveParams struct {
	Name        *string
	Description *string
	Definition  json.RawMessage // JSON, or YAML in a JSON string
	Retention   *Retention
}

// parseDefinition reads and compiles a definition, answering every problem
// with its path under body.definition.
func parseDefinition(raw json.RawMessage, urls URLChecker) (*graph.Spec, json.RawMessage, error) {
	doc := []byte(raw)
	var yamlText string
	if json.Unmarshal(raw, &yamlText) == nil {
		doc = []byte(yamlText)
	}
	spec, err := graph.Parse(doc)
	if err != nil {
		return nil, nil, apperr.InvalidField("body.definition", err.Error())
	}
	if _, problems := graph.Compile(spec); problems != nil {
		e := &apperr.Error{Code: apperr.Invalid, Message: fmt.Sprintf("the workflow has %d problem(s)", len(problems))}
		for _, p := range problems {
			e.Fields = append(e.Fields, apperr.FieldError{Path: "body.definition." + p.Path, Message: p.Message})
		}
		return nil, nil, e
	}
	if err := checkURLs(spec, urls); err != nil {
		return nil, nil, err
	}
	// The stored form is the parsed document as JSON, whatever was sent.
	canonical, err := json.Marshal(spec)
	if err != nil {
		return nil, nil, err
	}
	return spec, canonical, nil
}

func checkName(name string) error {
	if n := strings.TrimSpace(name); n == "" || len(n) > 200 {
		return apperr.InvalidField("body.name", "must be 1 to 200 characters")
	}
	return nil
}

func checkRetention(r *Retention) error {
	if r != nil && (r.KeepLast < 0 || r.TTLSeconds < 0) {
		return apperr.InvalidField("body.retention", "must not be negative")
	}
	return nil
}

// Create saves a new workflow as its version 1.
func (s *Service) Create(ctx context.Context, p SaveParams) (*Workflow, *Version, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return nil, nil, err
	}
	if p.Name == nil {
		return nil, nil, apperr.InvalidField("body.name", "is required")
	}
	if err := checkName(*p.Name); err != nil {
		return nil, nil, err
	}
	if len(p.Definition) == 0 {
		return nil, nil, apperr.InvalidField("body.definition", "is required")
	}
	if err := checkRetention(p.Retention); err != nil {
		return nil, nil, err
	}
	_, canonical, err := parseDefinition(p.Definition, s.urls)
	if err != nil {
		return nil, nil, err
	}
	now := s.now().UTC()
	w := &Workflow{ID: ids.New(), OwnerID: pr.UserID, Name: strings.TrimSpace(*p.Name), LatestVersion: 1, CreatedAt: now, UpdatedAt: now}
	if p.Description != nil {
		w.Description = *p.Description
	}
	if r := p.Retention; r != nil {
		w.KeepCheckpoints, w.CheckpointTTLSeconds = r.KeepLast, r.TTLSeconds
	}
	v := &Version{WorkflowID: w.ID, Version: 1, Spec: canonical, CreatedAt: now}
	if err := s.store.create(ctx, w, v); err != nil {
		return nil, nil, err
	}
	return w, v, nil
}

// Get returns one of the caller's workflows with one of its versions (0:
// the latest).
func (s *Service) Get(ctx context.Context, id string, version int) (*Workflow, *Version, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, nil, err
	}
	w, err := s.store.workflow(ctx, pr.UserID, id)
	if err != nil {
		return nil, nil, err
	}
	if version == 0 {
		version = w.LatestVersion
	}
	v, err := s.store.version(ctx, w.ID, version)
	if err != nil {
		return nil, nil, err
	}
	return w, v, nil
}

// Update changes a workflow; a new definition becomes a new version.
func (s *Service) Update(ctx context.Context, id string, p SaveParams) (*Workflow, *Version, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return nil, nil, err
	}
	if p.Name != nil {
		if err := checkName(*p.Name); err != nil {
			return nil, nil, err
		}
	}
	if err := checkRetention(p.Retention); err != nil {
		return nil, nil, err
	}
	var canonical json.RawMessage
	if len(p.Definition) > 0 {
		if _, canonical, err = parseDefinition(p.Definition, s.urls); err != nil {
			return nil, nil, err
		}
	}
	w, err := s.store.update(ctx, updateParams{ownerID: pr.UserID, id: id, now: s.now().UTC(), name: p.Name,
		description: p.Description, retention: p.Retention, spec: canonical})
	if err != nil {
		return nil, nil, err
	}
	v, err := s.store.version(ctx, w.ID, w.LatestVersion)
	return w, v, err
}

// Delete removes a workflow with its versions, runs and triggers.
func (s *Service) Delete(ctx context.Context, id string) error {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return err
	}
	return s.db.DeleteOwned(ctx, db.DeleteOwnedParams{Model: (*Workflow)(nil), ID: id, OwnerID: pr.UserID, What: "workflow"})
}

// ListParams pages through the caller's workflows.
type ListParams struct {
	Cursor string
	Limit  int
}

// List returns the caller's workflows, newest first, and the next cursor.
func (s *Service) List(ctx context.Context, p ListParams) ([]Workflow, string, error) {
	p.Limit = db.PageLimit(p.Limit)
	pr, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, "", err
	}
	out, err := s.store.list(ctx, pr.UserID, p.Cursor, p.Limit+1)
	if err != nil {
		return nil, "", err
	}
	out, next := db.Page(out, p.Limit, func(r *Workflow) string { return r.ID })
	return out, next, nil
}

// Versions lists a workflow's versions, newest first.
func (s *Service) Versions(ctx context.Context, id string) (*Workflow, []Version, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, nil, err
	}
	w, err := s.store.workflow(ctx, pr.UserID, id)
	if err != nil {
		return nil, nil, err
	}
	vs, err := s.store.versions(ctx, w.ID)
	return w, vs, err
}

// Publish makes a version the one runs and triggers use (0: the latest).
func (s *Service) Publish(ctx context.Context, id string, version int) (*Workflow, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return nil, err
	}
	w, err := s.store.workflow(ctx, pr.UserID, id)
	if err != nil {
		return nil, err
	}
	if version == 0 {
		version = w.LatestVersion
	}
	if version < 1 || version > w.LatestVersion {
		return nil, apperr.InvalidField("body.version", fmt.Sprintf("the workflow has versions 1 to %d", w.LatestVersion))
	}
	return s.store.publish(ctx, w.ID, version, s.now().UTC())
}

// Rollback restores an earlier version: its document becomes a new
// version, which is published. History is never rewritten.
func (s *Service) Rollback(ctx context.Context, id string, version int) (*Workflow, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return nil, err
	}
	w, err := s.store.workflow(ctx, pr.UserID, id)
	if err != nil {
		return nil, err
	}
	if version < 1 || version > w.LatestVersion {
		return nil, apperr.InvalidField("body.version", fmt.Sprintf("the workflow has versions 1 to %d", w.LatestVersion))
	}
	old, err := s.store.version(ctx, w.ID, version)
	if err != nil {
		return nil, err
	}
	w, err = s.store.update(ctx, updateParams{ownerID: pr.UserID, id: id, now: s.now().UTC(), spec: old.Spec})
	if err != nil {
		return nil, err
	}
	return s.store.publish(ctx, w.ID, w.LatestVersion, s.now().UTC())
}

// compiled returns the graph of a version, compiling it once. Callers
// that want one being compiled wait for it rather than read the version
// too: a burst of runs of a new version would otherwise each read it.
func (s *Service) compiled(ctx context.Context, workflowID string, version int) (*graph.Graph, error) {
	key := fmt.Sprintf("%s/%d", workflowID, version)
	if e, ok := s.graphs.Load(key); ok {
		if g := e.(*compiling).wait(); g != nil {
			return g, nil
		}
	}
	e := &compiling{done: make(chan struct{})}
	if prev, loaded := s.graphs.LoadOrStore(key, e); loaded {
		if g := prev.(*compiling).wait(); g != nil {
			return g, nil
		}
		// It failed for its caller (its context, say): compile here.
		return s.compile(ctx, workflowID, version)
	}
	g, err := s.compile(ctx, workflowID, version)
	e.g = g
	close(e.done)
	if err != nil {
		s.graphs.CompareAndDelete(key, e) // a later call tries again
	}
	return g, err
}

// compiling is an entry of the graph cache: the graph once done is closed,
// nil if compiling failed.
type compiling struct {
	done chan struct{}
	g    *graph.Graph
}

func (c *compiling) wait() *graph.Graph {
	<-c.done
	return c.g
}

func (s *Service) compile(ctx context.Context, workflowID string, version int) (*graph.Graph, error) {
	v, err := s.store.version(ctx, workflowID, version)
	if err != nil {
		return nil, err
	}
	spec, err := graph.Parse(v.Spec)
	if err != nil {
		return nil, err
	}
	g, problems := graph.Compile(spec)
	if problems != nil {
		return nil, fmt.Errorf("workflow %s version %d no longer compiles: %v", workflowID, version, problems)
	}
	return g, nil
}
