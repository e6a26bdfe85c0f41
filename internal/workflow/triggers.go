package workflow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/platform/webhook"
)

// Secrets encrypts webhook secrets at rest.
type Secrets interface {
	Encrypt(plaintext []byte, aad string) (string, error)
	Decrypt(ctx context.Context, ciphertext, aad string) ([]byte, error)
	Rewrap(ctx context.Context, ciphertext, aad string) (string, bool, error)
}

// RewrapSecrets re-encrypts webhook secrets made under an older vault key
// (pulse keys rotate) and returns how many changed.
func (s *Service) RewrapSecrets(ctx context.Context) (int, error) {
	var ts []Trigger
	if err := s.db.W.NewSelect().Model(&ts).Column("id", "secret").Where("type = ? AND secret <> ''", TriggerWebhook).Scan(ctx); err != nil {
		return 0, err
	}
	n := 0
	for _, t := range ts {
		out, changed, err := s.secrets.Rewrap(ctx, t.Secret, "workflow_trigger:"+t.ID)
		if err != nil {
			return n, fmt.Errorf("trigger %s: %w", t.ID, err)
		}
		if !changed {
			continue
		}
		if _, err := s.db.W.NewUpdate().Model((*Trigger)(nil)).Set("secret = ?", out).Where("id = ? AND secret = ?", t.ID, t.Secret).Exec(ctx); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

var eventName = regexp.MustCompile(`^[a-z][a-z0-9_.:-]{0,99}$`)

// Platform events that event triggers may name, besides the app's own
// (sent to POST /events).
const (
	EventWorkflowRunCompleted = "workflow_run.completed"
	EventWorkflowRunFailed    = "workflow_run.failed"
	EventAgentRunCompleted    = "agent_run.completed"
	EventAgentRunFailed       = "agent_run.failed"
)

// TriggerParams creates a trigger.
type TriggerParams struct {
	WorkflowID string
	Type       string
	Cron       string
	Timezone   string
	Event      string
	Input      json.RawMessage
	ThreadID   string
	Disabled   bool
}

// CreatedTrigger is a new trigger with its webhook secret, shown once.
type CreatedTrigger struct {
	*Trigger
	Secret string
}

// CreateTrigger adds a trigger to one of the caller's workflows.
func (s *Service) CreateTrigger(ctx context.Context, p TriggerParams) (*CreatedTrigger, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return nil, err
	}
	w, err := s.store.workflow(ctx, pr.UserID, p.WorkflowID)
	if err != nil {
		return nil, err
	}
	if _, err := decodeObject(p.Input, "body.input"); err != nil {
		return nil, err
	}
	if len(p.Input) == 0 || string(p.Input) == "null" {
		p.Input = json.RawMessage("{}")
	}
	if p.ThreadID != "" {
		t, err := s.store.thread(ctx, pr.UserID, p.ThreadID)
		if err != nil || t.WorkflowID != w.ID {
			return nil, apperr.InvalidField("body.thread_id", "no thread of this workflow has this id")
		}
	}
	now := s.now().UTC()
	t := &Trigger{ID: ids.New(), OwnerID: pr.UserID, WorkflowID: w.ID, Type: p.Type, Enabled: !p.Disabled, Input: p.Input,
		ThreadID: p.ThreadID, CreatedAt: now}
	out := &CreatedTrigger{Trigger: t}
	switch p.Type {
	case TriggerCron:
		if p.Timezone == "" && s.userZone != nil {
			// "07:00" means 07:00 where the user lives.
			if zone, err := s.userZone(ctx); err == nil && zone != "" {
				p.Timezone = zone
			}
		}
		sched, err := ParseSchedule(p.Cron, p.Timezone)
		if err != nil {
			field := "body.cron"
			if strings.Contains(err.Error(), "time zone") {
				field = "body.timezone"
			}
			return nil, apperr.InvalidField(field, err.Error())
		}
		t.Cron, t.Timezone = strings.TrimSpace(p.Cron), p.Timezone
		if t.Timezone == "" {
			t.Timezone = "UTC"
		}
		next := sched.Next(now)
		t.NextFireAt = &next
	case TriggerWebhook:
		raw := make([]byte, 32)
		_, _ = rand.Read(raw)
		out.Secret = "whsec_" + hex.EncodeToString(raw)
		if s.secrets == nil {
			return nil, apperr.New(apperr.Unavailable, "webhook triggers are not available")
		}
		if t.Secret, err = s.secrets.Encrypt([]byte(out.Secret), "workflow_trigger:"+t.ID); err != nil {
			return nil, err
		}
	case TriggerEvent:
		if !eventName.MatchString(p.Event) {
			return nil, apperr.InvalidField("body.event", "must be an event name such as workflow_run.completed or app.task_created")
		}
		t.Event = p.Event
	default:
		return nil, apperr.InvalidField("body.type", "must be cron, webhook or event")
	}
	if _, err := s.db.W.NewInsert().Model(t).Exec(ctx); err != nil {
		return nil, err
	}
	return out, nil
}

// Triggers lists a workflow's triggers.
func (s *Service) Triggers(ctx context.Context, workflowID string) ([]Trigger, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, err
	}
	if _, err := s.store.workflow(ctx, pr.UserID, workflowID); err != nil {
		return nil, err
	}
	var out []Trigger
	err = s.db.R.NewSelect().Model(&out).Where("workflow_id = ? AND owner_id = ?", workflowID, pr.UserID).Order("id").Scan(ctx)
	return out, err
}

// SetTriggerEnabled turns a trigger on or off; a cron trigger turned on
// fires next from now, not for the time it was off.
func (s *Service) SetTriggerEnabled(ctx context.Context, id string, enabled bool) (*Trigger, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return nil, err
	}
	t := &Trigger{}
	if err := s.db.W.NewSelect().Model(t).Where("id = ? AND owner_id = ?", id, pr.UserID).Scan(ctx); err != nil {
		return nil, notFound(err, "trigger")
	}
	t.Enabled = enabled
	if t.Type == TriggerCron && enabled {
		sched, err := ParseSchedule(t.Cron, t.Timezone)
		if err != nil {
			return nil, err
		}
		next := sched.Next(s.now().UTC())
		t.NextFireAt = &next
	}
	_, err = s.db.W.NewUpdate().Model(t).Column("enabled", "next_fire_at").WherePK().Exec(ctx)
	return t, err
}

// DeleteTrigger removes a trigger.
func (s *Service) DeleteTrigger(ctx context.Context, id string) error {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return err
	}
	return s.db.DeleteOwned(ctx, db.DeleteOwnedParams{Model: (*Trigger)(nil), ID: id, OwnerID: pr.UserID, What: "trigger"})
}

// fire starts the trigger's run as its owner. A failure to start is kept
// on the trigger, not raised: a trigger's schedule goes on.
func (s *Service) fire(ctx context.Context, t *Trigger, origin string, input json.RawMessage) (*Run, error) {
	ctx = authn.With(ctx, &authn.Principal{UserID: t.OwnerID, Role: authn.RoleUser})
	var r *Run
	err := s.mayFire(ctx, t, origin)
	if err == nil {
		r, err = s.Start(ctx, StartParams{WorkflowID: t.WorkflowID, Input: input, ThreadID: t.ThreadID, Background: true, Origin: origin})
	}
	q := s.db.W.NewUpdate().Model((*Trigger)(nil)).Set("last_fired_at = ?", s.now().UTC()).Where("id = ?", t.ID)
	if err != nil {
		q = q.Set("last_error = ?", truncate(err.Error(), 500))
	} else {
		q = q.Set("last_run_id = ?", r.ID).Set("last_error = ''")
	}
	if _, uerr := q.Exec(context.WithoutCancel(ctx)); uerr != nil && err == nil {
		err = uerr
	}
	return r, err
}

// mayFire refuses a firing for a deactivated owner, and an event's that
// would close a loop of triggers or make a chain too long (ctx carries
// the chain of the run whose event it is).
func (s *Service) mayFire(ctx context.Context, t *Trigger, origin string) error {
	if s.accounts != nil {
		active, err := s.accounts.Active(ctx, t.OwnerID)
		if err != nil {
			return fmt.Errorf("the trigger's owner could not be checked: %w", err)
		}
		if !active {
			return apperr.New(apperr.Conflict, "refused: the trigger's owner's account is deactivated")
		}
	}
	if origin != TriggerEvent {
		return nil
	}
	if err := checkChain(ChainOf(ctx), t.WorkflowID); err != nil {
		return err
	}
	res, err := s.limiter.AllowN(ctx, "workflow_event_trigger:"+t.ID, EventFiringLimit, 1)
	if err != nil {
		return fmt.Errorf("the trigger's firing rate could not be checked: %w", err)
	}
	if !res.Allowed {
		return apperr.New(apperr.Conflict, fmt.Sprintf("refused: this event trigger started %d runs within %s; a loop through the API? It fires again in %s",
			EventFiringLimit.Burst, EventFiringLimit.Period, res.RetryAfter.Round(time.Second)))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// FireDue starts the runs of cron triggers that are due, once each: the
// claim moves next_fire_at, so two processes never fire the same time.
// Times missed while no process ran fire once, late.
func (s *Service) FireDue(ctx context.Context) error {
	now := s.now().UTC()
	var due []Trigger
	if err := s.db.W.NewSelect().Model(&due).Where("type = ? AND enabled AND next_fire_at <= ?", TriggerCron, now).
		Order("next_fire_at").Limit(500).Scan(ctx); err != nil {
		return err
	}
	for i := range due {
		t := &due[i]
		sched, err := ParseSchedule(t.Cron, t.Timezone)
		if err != nil {
			continue
		}
		next := sched.Next(now)
		res, err := s.db.W.NewUpdate().Model((*Trigger)(nil)).Set("next_fire_at = ?", next).
			Where("id = ? AND next_fire_at = ?", t.ID, *t.NextFireAt).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			continue // another process fired it
		}
		_, _ = s.fire(ctx, t, TriggerCron, t.Input)
	}
	return nil
}

// Webhook verifies a signed call and starts the trigger's run with the
// trigger's input overlaid by the body. The signature header and its
// rules (tolerance, one acceptance per signature) are package webhook's.
// A replayed call answers webhook_replayed and starts nothing.
func (s *Service) Webhook(ctx context.Context, id, signature string, body []byte) (*Run, error) {
	t := &Trigger{}
	if err := s.db.W.NewSelect().Model(t).Where("id = ? AND type = ?", id, TriggerWebhook).Scan(ctx); err != nil {
		return nil, notFound(err, "trigger")
	}
	secret, err := s.secrets.Decrypt(ctx, t.Secret, "workflow_trigger:"+t.ID)
	if err != nil {
		return nil, err
	}
	call := webhook.AcceptParams{Receiver: "workflow_trigger:" + t.ID, Secret: secret, Header: signature, Body: body}
	// Checked before anything else is said about the trigger, and without
	// claiming the signature yet: a call refused below stays retryable.
	if _, err := webhook.Verify(secret, signature, body, s.now()); err != nil {
		return nil, apperr.Wrap(err, apperr.Unauthenticated, "the signature does not match: sign '<t>.<body>' with HMAC-SHA256 and the trigger's secret")
	}
	if !t.Enabled {
		return nil, apperr.New(apperr.Conflict, "the trigger is disabled")
	}
	input, err := decodeObject(t.Input, "input")
	if err != nil {
		return nil, err
	}
	payload, err := decodeObject(body, "body")
	if err != nil {
		return nil, err
	}
	for k, v := range payload {
		input[k] = v
	}
	merged, _ := json.Marshal(input)
	accepted, err := s.hooks.Accept(ctx, call)
	if err != nil {
		return nil, err
	}
	r, err := s.fire(ctx, t, TriggerWebhook, merged)
	if r == nil {
		// No run started: the sender's retry of this call may start it.
		_ = accepted.Release(ctx)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Dispatch starts the runs of the owner's event triggers for a named
// event. A workflow's own run events never trigger that workflow, so a
// trigger cannot loop on itself.
func (s *Service) Dispatch(ctx context.Context, ownerID, event string, data any, fromWorkflow string) ([]string, error) {
	var ts []Trigger
	if err := s.db.W.NewSelect().Model(&ts).Where("type = ? AND event = ? AND owner_id = ? AND enabled", TriggerEvent, event, ownerID).
		Scan(ctx); err != nil {
		return nil, err
	}
	var started []string
	for i := range ts {
		t := &ts[i]
		if t.WorkflowID == fromWorkflow {
			continue
		}
		input, err := decodeObject(t.Input, "input")
		if err != nil {
			continue
		}
		input["event"] = map[string]any{"name": event, "data": data}
		b, _ := json.Marshal(input)
		if r, err := s.fire(ctx, t, TriggerEvent, b); err == nil {
			started = append(started, r.ID)
		}
	}
	if f := s.dispatched.Load(); f != nil {
		(*f)(event, fromWorkflow, started)
	}
	return started, nil
}

// Emit sends one of the caller's app events to their event triggers.
func (s *Service) Emit(ctx context.Context, name string, data json.RawMessage) ([]string, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return nil, err
	}
	if !eventName.MatchString(name) || !strings.HasPrefix(name, "app.") {
		return nil, apperr.InvalidField("body.name", "an app event's name starts with app. (app.task_created)")
	}
	var v any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, apperr.InvalidField("body.data", "must be JSON")
		}
	}
	return s.Dispatch(ctx, pr.UserID, name, v, "")
}

// TriggersArgs is the periodic job that fires due cron triggers.
type TriggersArgs struct{}

// Kind implements river.JobArgs.
func (TriggersArgs) Kind() string { return "workflow_triggers" }
