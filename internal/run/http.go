package run

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/httpx"
)

var bearer = []map[string][]string{{"bearer": {}}, {"oauth2": {}}}

// RunOut is a run as the API shows it.
type RunOut struct {
	ID             string          `json:"id"`
	AgentID        string          `json:"agent_id"`
	AgentVersion   int             `json:"agent_version"`
	ConversationID string          `json:"conversation_id" doc:"pass it to the next run to continue the conversation"`
	Status         Status          `json:"status" enum:"queued,running,requires_action,succeeded,failed,cancelled"`
	Input          string          `json:"input"`
	Output         json.RawMessage `json:"output,omitempty" doc:"a JSON string, or the JSON object matching the agent's output_schema"`
	Error          *RunError       `json:"error,omitempty"`
	RequiredAction *RequiredAction `json:"required_action,omitempty" doc:"when status is requires_action: the tool calls to approve or reject"`
	Usage          Usage           `json:"usage"`
	Background     bool            `json:"background" doc:"executed by the job queue"`
	JobID          string          `json:"job_id,omitempty" doc:"for background runs: GET /jobs/{job_id}"`
	Attempt        int             `json:"attempt" doc:"how many times a worker has taken the run (more than 1 after a crash or a transient failure)"`
	CreatedAt      time.Time       `json:"created_at"`
	FinishedAt     *time.Time      `json:"finished_at,omitempty"`
}

// RequiredAction lists the tool calls a paused run waits on.
type RequiredAction struct {
	ToolCalls []llm.ToolCall `json:"tool_calls"`
}

// RunError explains a failed run.
type RunError struct {
	Code    ErrorCode `json:"code" doc:"e.g. max_turns_exceeded, provider_error, invalid_output"`
	Message string    `json:"message"`
}

// Usage is what the run consumed.
type Usage struct {
	InputTokens  int   `json:"input_tokens"`
	OutputTokens int   `json:"output_tokens"`
	CostMicros   int64 `json:"cost_micros" doc:"cost in micro-credits (1 credit = 1,000,000), from the price table"`
}

func runOut(r *Run) RunOut {
	out := RunOut{ID: r.ID, AgentID: r.AgentID, AgentVersion: r.AgentVersion, ConversationID: r.ConversationID, Status: r.Status, Input: r.Input, Output: r.Output,
		Usage: Usage{r.InputTokens, r.OutputTokens, r.CostMicros}, CreatedAt: r.CreatedAt, FinishedAt: r.FinishedAt,
		Background: r.Background, JobID: r.JobID, Attempt: r.Attempt}
	if r.ErrorCode != "" {
		out.Error = &RunError{Code: r.ErrorCode, Message: r.ErrorMessage}
	}
	if r.Status == StatusRequiresAction && r.State != nil {
		out.RequiredAction = &RequiredAction{ToolCalls: httpx.NonNil(r.State.Pending)}
	}
	return out
}

type runBody struct{ Body RunOut }

type startInput struct {
	AgentID string `path:"id" maxLength:"64"`
	Accept  string `header:"Accept"`
	Body    struct {
		Stream         bool   `json:"stream,omitempty" doc:"answer with Server-Sent Events as the run proceeds (or send Accept: text/event-stream)"`
		Background     bool   `json:"background,omitempty" doc:"queue the run and answer 202 {id, job_id, status} at once; follow it on /events or GET /jobs/{job_id}"`
		Input          string `json:"input" doc:"the user's message"`
		ConversationID string `json:"conversation_id,omitempty" maxLength:"64" doc:"continue this conversation (earlier messages are sent to the model)"`
	}
}

type idInput struct {
	ID string `path:"id" maxLength:"64"`
}

type stepsOutput struct {
	Body struct {
		Items []Step `json:"items"`
	}
}

type rejectInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body *struct {
		Reason string `json:"reason,omitempty" maxLength:"1000" doc:"told to the model"`
	}
}

type messagesOutput struct {
	Body struct {
		Items []Message `json:"items"`
	}
}

type runListInput struct {
	AgentID string `query:"agent_id" maxLength:"64"`
	Status  string `query:"status" enum:"queued,running,requires_action,succeeded,failed,cancelled,"`
	Cursor  string `query:"cursor" maxLength:"64"`
	Limit   int    `query:"limit" minimum:"0" maximum:"100"`
}

type runListOutput struct {
	Body struct {
		Items      []RunOut `json:"items"`
		NextCursor string   `json:"next_cursor,omitempty"`
	}
}

// Register adds the run operations.
func Register(v1 *httpx.API, s *Service) {
	tag := []string{"Runs"}
	// A reference to the Run schema, so clients get one named type for it.
	runSchema := v1.OpenAPI().Components.Schemas.Schema(reflect.TypeOf(RunOut{}), true, "")
	httpx.Register(v1, huma.Operation{OperationID: "run-agent", Method: http.MethodPost, Path: "/agents/{id}/runs", Tags: tag,
		Summary: "Run an agent: wait for the result, or stream it",
		Description: "Without stream, answers the finished run. With stream (or Accept: text/event-stream), answers Server-Sent Events: " +
			"run.created, step.started, message.delta, tool.called, tool.result, step.completed, then run.completed or run.failed (whose data is the run).",
		Security: bearer,
		Responses: map[string]*huma.Response{"200": {Description: "The run, or its event stream", Content: map[string]*huma.MediaType{
			"application/json": {Schema: runSchema}, "text/event-stream": {Schema: &huma.Schema{Type: "string"}}}}}},
		func(ctx context.Context, in *startInput) (*huma.StreamResponse, error) {
			// Everything that can be refused is refused before the response
			// starts, so errors are still problem+json.
			prep, err := s.Prepare(ctx, StartParams{AgentID: in.AgentID, Input: in.Body.Input, ConversationID: in.Body.ConversationID,
				Background: in.Body.Background})
			if err != nil {
				return nil, err
			}
			r := prep.Run
			return httpx.RunResponse[*Run]{API: v1, Queued: in.Body.Background, Location: httpx.APIPrefix + "/runs/" + r.ID,
				QueuedBody: map[string]string{"id": r.ID, "job_id": r.JobID, "status": string(r.Status)},
				Stream:     in.Body.Stream || httpx.WantsSSE(in.Accept), Created: runOut(r),
				Execute: func(ctx context.Context, emit func(events.Type, any)) (*Run, error) {
					var local func(Event)
					if emit != nil {
						local = func(e Event) { emit(e.Type, e.Data) }
					}
					return s.Execute(ctx, prep, local)
				},
				Done: func(r *Run) (events.Type, any) {
					if r.Status != StatusSucceeded {
						return events.RunFailed, runOut(r)
					}
					return events.RunCompleted, runOut(r)
				},
				FailStatus: http.StatusInternalServerError,
				StreamFailed: func() (events.Type, any) {
					return events.RunFailed, map[string]any{"error": map[string]string{"code": string(CodeInternal), "message": "the run could not be saved"}}
				},
			}.Response(), nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "get-run", Method: http.MethodGet, Path: "/runs/{id}", Tags: tag, Summary: "A run", Security: bearer},
		func(ctx context.Context, in *idInput) (*runBody, error) {
			r, err := s.Get(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			return &runBody{Body: runOut(r)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "approve-run", Method: http.MethodPost, Path: "/runs/{id}/approve", Tags: tag,
		Summary: "Approve the tool calls a run waits on, and continue it", Security: bearer},
		func(ctx context.Context, in *idInput) (*runBody, error) {
			r, err := s.Decide(ctx, in.ID, true, "", nil)
			if err != nil {
				return nil, err
			}
			return &runBody{Body: runOut(r)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "reject-run", Method: http.MethodPost, Path: "/runs/{id}/reject", Tags: tag,
		Summary: "Reject the tool calls a run waits on (the model is told), and continue it", Security: bearer},
		func(ctx context.Context, in *rejectInput) (*runBody, error) {
			reason := ""
			if in.Body != nil {
				reason = in.Body.Reason
			}
			r, err := s.Decide(ctx, in.ID, false, reason, nil)
			if err != nil {
				return nil, err
			}
			return &runBody{Body: runOut(r)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "cancel-run", Method: http.MethodPost, Path: "/runs/{id}/cancel", Tags: tag,
		Summary: "Cancel a run", Security: bearer},
		func(ctx context.Context, in *idInput) (*runBody, error) {
			r, err := s.Cancel(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			return &runBody{Body: runOut(r)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "list-run-steps", Method: http.MethodGet, Path: "/runs/{id}/steps", Tags: tag,
		Summary: "A run's decision trace: every model call and tool call, in order", Security: bearer},
		func(ctx context.Context, in *idInput) (*stepsOutput, error) {
			steps, err := s.Steps(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			out := &stepsOutput{}
			out.Body.Items = steps
			if out.Body.Items == nil {
				out.Body.Items = []Step{}
			}
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "list-conversation-messages", Method: http.MethodGet, Path: "/conversations/{id}/messages", Tags: tag,
		Summary: "A conversation's messages, in order", Security: bearer},
		func(ctx context.Context, in *idInput) (*messagesOutput, error) {
			msgs, err := s.Messages(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			out := &messagesOutput{}
			out.Body.Items = msgs
			if out.Body.Items == nil {
				out.Body.Items = []Message{}
			}
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "list-runs", Method: http.MethodGet, Path: "/runs", Tags: tag, Summary: "My runs, newest first", Security: bearer},
		func(ctx context.Context, in *runListInput) (*runListOutput, error) {
			list, next, err := s.List(ctx, ListParams{AgentID: in.AgentID, Status: Status(in.Status), Cursor: in.Cursor, Limit: in.Limit})
			if err != nil {
				return nil, err
			}
			out := &runListOutput{}
			out.Body.Items = make([]RunOut, len(list))
			for i := range list {
				out.Body.Items[i] = runOut(&list[i])
			}
			out.Body.NextCursor = next
			return out, nil
		})
}
