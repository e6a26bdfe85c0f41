package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/durable"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/platform/schema"
)

// Enqueuer puts a job on the queue inside a transaction.
type Enqueuer interface {
	InsertTx(ctx context.Context, tx *db.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Runs are agent runs in the background (the run feature implements it):
// the built-in "agent" type starts one, and a run's id is its job id.
type Runs interface {
	StartAgentRun(ctx context.Context, payload json.RawMessage) (runID string, err error)
	RunJob(ctx context.Context, id string) (status string, result json.RawMessage, errMsg string, err error)
}

// Service starts jobs and reports on them.
type Service struct {
	db    *db.DB
	queue Enqueuer
	runs  Runs
	types map[string]compiled
	now   func() time.Time
	items *durable.Leases[*Job] // claims jobs; the queue's job holds them
}

type compiled struct {
	Type
	schema *schema.Schema
}

// AgentType is the built-in type that runs an agent in the background.
const AgentType = "agent"

var agentPayload = json.RawMessage(`{"type":"object","properties":{"agent_id":{"type":"string"},"input":{"type":"string","minLength":1},` +
	`"conversation_id":{"type":"string"}},"required":["agent_id","input"],"additionalProperties":false}`)

// Params builds the service.
type Params struct {
	DB    *db.DB
	Queue Enqueuer
	Runs  Runs
	// Types are the task types features registered.
	Types []Type
	// Durable is the process's durable core, which works the jobs (nil: a
	// core of the service's own).
	Durable *durable.Core
}

// New returns the service.
func New(p Params) (*Service, error) {
	s := &Service{db: p.DB, queue: p.Queue, runs: p.Runs, types: map[string]compiled{}, now: time.Now}
	if p.Durable == nil {
		p.Durable = durable.New(durable.Params{DB: p.DB})
	}
	for _, t := range p.Types {
		if t.Name == AgentType || s.types[t.Name].Handle != nil {
			return nil, fmt.Errorf("job: type %q registered twice", t.Name)
		}
		c := compiled{Type: t}
		if len(t.Payload) > 0 {
			sc, err := schema.Compile(t.Payload)
			if err != nil {
				return nil, fmt.Errorf("job: type %s: %w", t.Name, err)
			}
			c.schema = sc
		}
		s.types[t.Name] = c
	}
	s.items = durable.AddTable(p.Durable, durable.Table[*Job]{Model: (*Job)(nil), Name: "jobs", Load: s.load,
		Unleased: true, AttemptColumn: "attempts"})
	durable.AddKind(p.Durable, durable.Kind[Args]{Work: s.work, Fail: s.fail})
	return s, nil
}

// Types lists what may be started, sorted.
func (s *Service) Types() []string {
	out := []string{AgentType}
	for n := range s.types {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// JobView is a job as its owner sees it.
type JobView struct {
	JobID      string          `json:"job_id"`
	Type       string          `json:"type"`
	Status     string          `json:"status" enum:"queued,running,requires_action,succeeded,failed,cancelled"`
	Result     json.RawMessage `json:"result,omitempty"`
	Error      string          `json:"error,omitempty"`
	Attempts   int             `json:"attempts"`
	CreatedAt  *time.Time      `json:"created_at,omitempty"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
}

func viewOf(j *Job) *JobView {
	return &JobView{JobID: j.ID, Type: j.Type, Status: j.Status, Result: j.Result, Error: j.Error, Attempts: j.Attempts,
		CreatedAt: &j.CreatedAt, FinishedAt: j.FinishedAt}
}

// Start queues a task of a named type for the caller.
func (s *Service) Start(ctx context.Context, typ string, payload json.RawMessage) (*JobView, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return nil, err
	}
	if len(payload) == 0 {
		payload = json.RawMessage(`{}`)
	}
	if typ == AgentType {
		if sc, _ := schema.Compile(agentPayload); sc != nil {
			if err := sc.Validate(payload); err != nil {
				return nil, apperr.InvalidField("body.payload", err.Error())
			}
		}
		id, err := s.runs.StartAgentRun(ctx, payload)
		if err != nil {
			return nil, err
		}
		return &JobView{JobID: id, Type: AgentType, Status: StatusQueued}, nil
	}
	t, ok := s.types[typ]
	if !ok {
		return nil, apperr.InvalidField("body.type", "unknown type; known types: "+strings.Join(s.Types(), ", "))
	}
	if t.schema != nil {
		if err := t.schema.Validate(payload); err != nil {
			return nil, apperr.InvalidField("body.payload", err.Error())
		}
	}
	j := &Job{ID: ids.New(), OwnerID: pr.UserID, Type: typ, Status: StatusQueued, Payload: payload, CreatedAt: s.now().UTC()}
	err = s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if _, err := tx.NewInsert().Model(j).Exec(ctx); err != nil {
			return err
		}
		_, err := s.queue.InsertTx(ctx, tx, Args{JobID: j.ID}, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("job: create: %w", err)
	}
	return viewOf(j), nil
}

// Get returns one of the caller's jobs; anyone else's is not found.
func (s *Service) Get(ctx context.Context, id string) (*JobView, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, err
	}
	j := &Job{}
	err = s.db.R.NewSelect().Model(j).Where("id = ? AND owner_id = ?", id, pr.UserID).Scan(ctx)
	if err == nil {
		return viewOf(j), nil
	}
	if !db.IsNoRows(err) {
		return nil, err
	}
	// A background agent run is its own job.
	status, result, msg, err := s.runs.RunJob(ctx, id)
	if err != nil {
		if apperr.Is(err, apperr.NotFound) {
			return nil, apperr.New(apperr.NotFound, "job not found")
		}
		return nil, err
	}
	return &JobView{JobID: id, Type: AgentType, Status: status, Result: result, Error: msg}, nil
}

// Args is the queue job of a task.
type Args struct {
	JobID string `json:"job_id"`
}

// Kind implements river.JobArgs.
func (Args) Kind() string { return "pulse_job" }

// InsertOpts are the durable core's: bounded attempts.
func (Args) InsertOpts() river.InsertOpts { return durable.InsertOpts() }

// MaxAttempts bounds how often a task is tried.
const MaxAttempts = durable.MaxAttempts

func (s *Service) load(ctx context.Context, id string) (*Job, error) {
	j := &Job{}
	if err := s.db.W.NewSelect().Model(j).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, err
	}
	return j, nil
}

// work runs the task as its owner. A transient failure is retried while
// attempts remain; anything else fails the job at once.
func (s *Service) work(ctx context.Context, rj *river.Job[Args]) error {
	j, ok, err := s.items.Claim(ctx, rj.Args.JobID)
	if err != nil || !ok {
		return err // not ok: it ended, or was deleted with its owner
	}
	t, known := s.types[j.Type]
	var result json.RawMessage
	if !known {
		err = fmt.Errorf("type %q is not available in this version", j.Type)
	} else {
		ctx := authn.With(ctx, &authn.Principal{UserID: j.OwnerID, Role: authn.RoleUser})
		result, err = t.Handle(ctx, j.Payload)
	}
	if err != nil && errors.Is(err, ErrTransient) && rj.Attempt < rj.MaxAttempts {
		_, uerr := s.db.W.NewUpdate().Model(j).Set("status = ?", StatusQueued).Set("error = ?", "attempt failed, will retry: "+err.Error()).
			WherePK().Exec(context.WithoutCancel(ctx))
		return errors.Join(err, uerr)
	}
	end := s.now().UTC()
	j.FinishedAt, j.Status, j.Error, j.Result = &end, StatusSucceeded, "", result
	if err != nil {
		j.Status, j.Error, j.Result = StatusFailed, err.Error(), nil
	} else if len(result) == 0 {
		j.Result = json.RawMessage(`null`)
	}
	_, uerr := s.db.W.NewUpdate().Model(j).Column("status", "error", "result", "finished_at").WherePK().Exec(context.WithoutCancel(ctx))
	return uerr
}

// fail records a task whose handler panicked (the core logged it).
func (s *Service) fail(ctx context.Context, rj *river.Job[Args], reason string) error {
	_, err := s.db.W.NewUpdate().Model((*Job)(nil)).Set("status = ?", StatusFailed).Set("error = ?", reason).
		Set("finished_at = ?", s.now().UTC()).Where("id = ? AND status IN (?)", rj.Args.JobID, bun.In([]string{StatusQueued, StatusRunning})).Exec(ctx)
	return err
}
