package workflow

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/pulse-run/pulse/internal/platform/httpx"
)

// WorkflowTriggerOut is a trigger as clients see it.
type WorkflowTriggerOut struct {
	ID          string          `json:"id"`
	WorkflowID  string          `json:"workflow_id"`
	Type        string          `json:"type" enum:"cron,webhook,event"`
	Enabled     bool            `json:"enabled"`
	Cron        string          `json:"cron,omitempty"`
	Timezone    string          `json:"timezone,omitempty"`
	NextFireAt  *time.Time      `json:"next_fire_at,omitempty"`
	Event       string          `json:"event,omitempty"`
	WebhookURL  string          `json:"webhook_url,omitempty" doc:"POST a JSON object here, signed in the Pulse-Signature header"`
	Secret      string          `json:"secret,omitempty" doc:"the webhook's signing secret: shown once, at creation"`
	Input       json.RawMessage `json:"input"`
	ThreadID    string          `json:"thread_id,omitempty"`
	LastFiredAt *time.Time      `json:"last_fired_at,omitempty"`
	LastRunID   string          `json:"last_run_id,omitempty"`
	LastError   string          `json:"last_error,omitempty" doc:"why the last firing started no run"`
	CreatedAt   time.Time       `json:"created_at"`
}

func (s *Service) triggerOut(t *Trigger, secret string) WorkflowTriggerOut {
	o := WorkflowTriggerOut{ID: t.ID, WorkflowID: t.WorkflowID, Type: t.Type, Enabled: t.Enabled, Cron: t.Cron, Timezone: t.Timezone,
		NextFireAt: t.NextFireAt, Event: t.Event, Secret: secret, Input: t.Input, ThreadID: t.ThreadID, LastFiredAt: t.LastFiredAt,
		LastRunID: t.LastRunID, LastError: t.LastError, CreatedAt: t.CreatedAt}
	if t.Type == TriggerWebhook {
		o.WebhookURL = s.hookURL + t.ID
	}
	if !t.Enabled || t.Type != TriggerCron {
		o.NextFireAt = nil
	}
	return o
}

type wfTriggerBody struct{ Body WorkflowTriggerOut }

type wfCreateTriggerInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Type     string          `json:"type" enum:"cron,webhook,event"`
		Cron     string          `json:"cron,omitempty" maxLength:"100" doc:"cron: five fields (minute hour day month weekday) or @daily, @hourly…" example:"0 7 * * *"`
		Timezone string          `json:"timezone,omitempty" maxLength:"64" doc:"cron: the IANA zone the expression is read in (default: the timezone of your profile, else UTC)" example:"America/New_York"`
		Event    string          `json:"event,omitempty" maxLength:"100" doc:"event: workflow_run.completed, workflow_run.failed, agent_run.completed, agent_run.failed, or an app event (app.<name>)"`
		Input    json.RawMessage `json:"input,omitempty" doc:"the runs' input (a webhook's body is laid over it; an event adds itself under event)"`
		ThreadID string          `json:"thread_id,omitempty" maxLength:"64" doc:"start the runs on this thread"`
		Enabled  *bool           `json:"enabled,omitempty"`
	}
}

type wfTriggerIDInput struct {
	ID string `path:"id" maxLength:"64"`
}

type wfTriggerPatchInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Enabled bool `json:"enabled"`
	}
}

type wfTriggersOutput struct {
	Body struct {
		Items []WorkflowTriggerOut `json:"items"`
	}
}

type wfWebhookInput struct {
	ID        string `path:"id" maxLength:"64"`
	Signature string `header:"Pulse-Signature" doc:"t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>' under the secret>"`
	RawBody   []byte
}

type wfEmitInput struct {
	Body struct {
		Name string          `json:"name" maxLength:"100" example:"app.task_created"`
		Data json.RawMessage `json:"data,omitempty"`
	}
}

type wfEmitOutput struct {
	Body struct {
		Runs []string `json:"runs" doc:"the runs the event started"`
	}
}

func registerTriggers(v1 *httpx.API, s *Service) {
	tag := []string{"Workflow triggers"}
	httpx.Register(v1, huma.Operation{OperationID: "create-workflow-trigger", Metadata: httpx.OneTimeSecret(), Method: http.MethodPost, Path: "/workflows/{id}/triggers", Tags: tag,
		Summary: "Start runs on a schedule, a signed webhook call, or an event",
		Description: "cron fires at each time of the expression on the zone's wall clock (a time skipped by daylight saving fires when the clocks change; " +
			"a repeated one fires once). webhook answers a secret, shown once, and a URL to POST signed JSON to. event fires on a named platform or app event.",
		DefaultStatus: http.StatusCreated, Security: bearer},
		func(ctx context.Context, in *wfCreateTriggerInput) (*wfTriggerBody, error) {
			t, err := s.CreateTrigger(ctx, TriggerParams{WorkflowID: in.ID, Type: in.Body.Type, Cron: in.Body.Cron, Timezone: in.Body.Timezone,
				Event: in.Body.Event, Input: in.Body.Input, ThreadID: in.Body.ThreadID, Disabled: in.Body.Enabled != nil && !*in.Body.Enabled})
			if err != nil {
				return nil, err
			}
			return &wfTriggerBody{s.triggerOut(t.Trigger, t.Secret)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "list-workflow-triggers", Method: http.MethodGet, Path: "/workflows/{id}/triggers", Tags: tag,
		Summary: "A workflow's triggers", Security: bearer},
		func(ctx context.Context, in *wfTriggerIDInput) (*wfTriggersOutput, error) {
			ts, err := s.Triggers(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			out := &wfTriggersOutput{}
			out.Body.Items = make([]WorkflowTriggerOut, len(ts))
			for i := range ts {
				out.Body.Items[i] = s.triggerOut(&ts[i], "")
			}
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "update-workflow-trigger", Method: http.MethodPatch, Path: "/workflow-triggers/{id}", Tags: tag,
		Summary: "Turn a trigger on or off", Security: bearer},
		func(ctx context.Context, in *wfTriggerPatchInput) (*wfTriggerBody, error) {
			t, err := s.SetTriggerEnabled(ctx, in.ID, in.Body.Enabled)
			if err != nil {
				return nil, err
			}
			return &wfTriggerBody{s.triggerOut(t, "")}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "delete-workflow-trigger", Method: http.MethodDelete, Path: "/workflow-triggers/{id}", Tags: tag,
		Summary: "Delete a trigger", DefaultStatus: http.StatusNoContent, Security: bearer},
		func(ctx context.Context, in *wfTriggerIDInput) (*struct{}, error) {
			return nil, s.DeleteTrigger(ctx, in.ID)
		})
	httpx.Register(v1, huma.Operation{OperationID: "call-workflow-webhook", Method: http.MethodPost, Path: "/hooks/workflow-triggers/{id}", Tags: tag,
		Summary: "Start a run from a signed webhook call",
		Description: "No bearer token: the Pulse-Signature header proves the caller holds the trigger's secret. The JSON object body is laid over " +
			"the trigger's input. Calls more than five minutes off the server's clock are refused, and each signed call is accepted once: " +
			"the same call again answers 409 webhook_replayed and starts nothing (sign each delivery anew). Answers 202 with the queued run.",
		DefaultStatus: http.StatusAccepted},
		func(ctx context.Context, in *wfWebhookInput) (*wfRunBody, error) {
			r, err := s.Webhook(ctx, in.ID, in.Signature, in.RawBody)
			if err != nil {
				return nil, err
			}
			return &wfRunBody{RunOut(r)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "emit-event", Method: http.MethodPost, Path: "/events", Tags: tag,
		Summary: "Send an app event to your event triggers", Description: "Each enabled trigger on this event name starts a background run, with {name, data} under event in its input.",
		DefaultStatus: http.StatusAccepted, Security: bearer},
		func(ctx context.Context, in *wfEmitInput) (*wfEmitOutput, error) {
			runs, err := s.Emit(ctx, in.Body.Name, in.Body.Data)
			if err != nil {
				return nil, err
			}
			out := &wfEmitOutput{}
			out.Body.Runs = runs
			if out.Body.Runs == nil {
				out.Body.Runs = []string{}
			}
			return out, nil
		})
}
