package workflow

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/httpx"
	"github.com/pulse-run/pulse/internal/workflow/graph"
)

type startWorkflowInput struct {
	ID     string `path:"id" maxLength:"64"`
	Accept string `header:"Accept"`
	Body   struct {
		Input      json.RawMessage `json:"input,omitempty" doc:"the initial state (on a thread: an update to the thread's state, through the reducers)"`
		ThreadID   string          `json:"thread_id,omitempty" maxLength:"64"`
		Version    int             `json:"version,omitempty" minimum:"0" doc:"0 or absent: the published version, else the latest"`
		Stream     bool            `json:"stream,omitempty" doc:"answer Server-Sent Events as the run proceeds (or send Accept: text/event-stream)"`
		Background bool            `json:"background,omitempty" doc:"queue the run and answer 202 at once"`
	}
}

type wfRunIDInput struct {
	ID string `path:"id" maxLength:"64"`
}

type wfResumeInput struct {
	ID     string `path:"id" maxLength:"64"`
	Accept string `header:"Accept"`
	Body   struct {
		Input  json.RawMessage `json:"input" doc:"the answer, fitting the interrupt's form"`
		Stream bool            `json:"stream,omitempty"`
	}
}

type wfForkInput struct {
	ID     string `path:"id" maxLength:"64"`
	Accept string `header:"Accept"`
	Body   struct {
		CheckpointID string          `json:"checkpoint_id" maxLength:"64"`
		StatePatch   json.RawMessage `json:"state_patch,omitempty" doc:"merged into the checkpoint's state through the reducers"`
		Background   bool            `json:"background,omitempty"`
		Stream       bool            `json:"stream,omitempty"`
	}
}

type wfRunBody struct{ Body WorkflowRunOut }

type wfRunListInput struct {
	ID     string `path:"id" maxLength:"64"`
	Status string `query:"status" enum:"pending,queued,running,interrupted,succeeded,failed,cancelled,"`
	Cursor string `query:"cursor" maxLength:"64"`
	Limit  int    `query:"limit" minimum:"0" maximum:"100"`
}

type wfRunListOutput struct {
	Body struct {
		Items      []WorkflowRunOut `json:"items"`
		NextCursor string           `json:"next_cursor,omitempty"`
	}
}

// WorkflowStepOut is one node execution.
type WorkflowStepOut struct {
	ID string `json:"id"`
	graph.Record
}

type wfStepsOutput struct {
	Body struct {
		Items []WorkflowStepOut `json:"items"`
	}
}

// WorkflowCheckpointOut is a run's position after a super-step.
type WorkflowCheckpointOut struct {
	ID        string                    `json:"id"`
	Step      int                       `json:"step"`
	State     map[string]any            `json:"state"`
	Next      []string                  `json:"next"`
	Barriers  map[string]*graph.Barrier `json:"barriers,omitempty"`
	CreatedAt time.Time                 `json:"created_at"`
}

type wfCheckpointsOutput struct {
	Body struct {
		Items []WorkflowCheckpointOut `json:"items"`
	}
}

// WorkflowThreadOut is a thread.
type WorkflowThreadOut struct {
	ID          string          `json:"id"`
	WorkflowID  string          `json:"workflow_id"`
	Policy      string          `json:"policy" enum:"reject,enqueue,interrupt,rollback"`
	State       json.RawMessage `json:"state" doc:"the state after the last successful run"`
	ActiveRunID string          `json:"active_run_id,omitempty"`
	LastRunID   string          `json:"last_run_id,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

func workflowThreadOut(t *Thread) WorkflowThreadOut {
	o := WorkflowThreadOut{ID: t.ID, WorkflowID: t.WorkflowID, Policy: t.Policy, State: t.State, ActiveRunID: t.ActiveRunID, LastRunID: t.LastRunID,
		CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
	if len(o.State) == 0 {
		o.State = json.RawMessage("{}")
	}
	return o
}

type wfThreadBody struct{ Body WorkflowThreadOut }

type wfCreateThreadInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Policy string `json:"policy,omitempty" enum:"reject,enqueue,interrupt,rollback," doc:"what happens to input that arrives while a run is active (default reject)"`
	}
}

func registerRuns(v1 *httpx.API, s *Service) {
	tag := []string{"Workflow runs"}
	// A reference to the WorkflowRun schema, so clients get one named type for it.
	runSchema := v1.OpenAPI().Components.Schemas.Schema(reflect.TypeOf(WorkflowRunOut{}), true, "")
	streamed := map[string]*huma.Response{"200": {Description: "The run, or its event stream", Content: map[string]*huma.MediaType{
		"application/json": {Schema: runSchema}, "text/event-stream": {Schema: &huma.Schema{Type: "string"}}}}}
	httpx.Register(v1, huma.Operation{OperationID: "run-workflow", Method: http.MethodPost, Path: "/workflows/{id}/runs", Tags: tag,
		Summary: "Run a workflow: wait for it, stream it, or queue it",
		Description: "Without stream, answers the run once it ends or waits for input. With stream, answers Server-Sent Events: run.created, " +
			"node.started, message.delta, node.completed, state.updated…, then run.completed, run.interrupted, run.failed or run.cancelled " +
			"(whose data is the run). With background, answers 202 at once; follow it on /events or GET /workflow-runs/{id}.",
		Security: bearer, Responses: streamed},
		func(ctx context.Context, in *startWorkflowInput) (*huma.StreamResponse, error) {
			r, err := s.Start(ctx, StartParams{WorkflowID: in.ID, Version: in.Body.Version, Input: in.Body.Input, ThreadID: in.Body.ThreadID,
				Background: in.Body.Background})
			if err != nil {
				return nil, err
			}
			return respond(v1, s, r, in.Body.Stream || httpx.WantsSSE(in.Accept)), nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "list-workflow-runs", Method: http.MethodGet, Path: "/workflows/{id}/runs", Tags: tag,
		Summary: "A workflow's runs, newest first", Security: bearer},
		func(ctx context.Context, in *wfRunListInput) (*wfRunListOutput, error) {
			if _, _, err := s.Get(ctx, in.ID, 0); err != nil {
				return nil, err
			}
			rs, next, err := s.Runs(ctx, RunListParams{WorkflowID: in.ID, Status: in.Status, Cursor: in.Cursor, Limit: in.Limit})
			if err != nil {
				return nil, err
			}
			out := &wfRunListOutput{}
			out.Body.Items, out.Body.NextCursor = make([]WorkflowRunOut, len(rs)), next
			for i := range rs {
				out.Body.Items[i] = RunOut(&rs[i])
			}
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "get-workflow-run", Method: http.MethodGet, Path: "/workflow-runs/{id}", Tags: tag,
		Summary: "A run: status, state and current nodes", Security: bearer},
		func(ctx context.Context, in *wfRunIDInput) (*wfRunBody, error) {
			r, err := s.GetRun(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			return &wfRunBody{RunOut(r)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "list-workflow-run-steps", Method: http.MethodGet, Path: "/workflow-runs/{id}/steps", Tags: tag,
		Summary: "What each node did, in order: the run's decision trace", Security: bearer},
		func(ctx context.Context, in *wfRunIDInput) (*wfStepsOutput, error) {
			rows, err := s.Steps(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			out := &wfStepsOutput{}
			out.Body.Items = make([]WorkflowStepOut, len(rows))
			for i, r := range rows {
				out.Body.Items[i] = WorkflowStepOut{ID: r.ID, Record: *r.Record}
			}
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "list-workflow-run-checkpoints", Method: http.MethodGet, Path: "/workflow-runs/{id}/checkpoints",
		Tags: tag, Summary: "A run's checkpoints, newest first: the points it can be forked from", Security: bearer},
		func(ctx context.Context, in *wfRunIDInput) (*wfCheckpointsOutput, error) {
			rows, err := s.Checkpoints(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			out := &wfCheckpointsOutput{}
			out.Body.Items = make([]WorkflowCheckpointOut, len(rows))
			for i, c := range rows {
				out.Body.Items[i] = WorkflowCheckpointOut{ID: c.ID, Step: c.Step, State: c.Data.State, Next: c.Data.Next, Barriers: c.Data.Barriers, CreatedAt: c.CreatedAt}
				if out.Body.Items[i].Next == nil {
					out.Body.Items[i].Next = []string{}
				}
			}
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "resume-workflow-run", Method: http.MethodPost, Path: "/workflow-runs/{id}/resume", Tags: tag,
		Summary: "Answer a run waiting for input", Description: "The answer must fit the interrupt's form (422 otherwise). A background run is queued (202).",
		Security: bearer, Responses: streamed},
		func(ctx context.Context, in *wfResumeInput) (*huma.StreamResponse, error) {
			r, err := s.Resume(ctx, in.ID, in.Body.Input)
			if err != nil {
				return nil, err
			}
			return respond(v1, s, r, in.Body.Stream || httpx.WantsSSE(in.Accept)), nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "fork-workflow-run", Method: http.MethodPost, Path: "/workflow-runs/{id}/fork", Tags: tag,
		Summary: "Start a new run from a checkpoint (time travel)", Description: "The new run starts with the checkpoint's state, patched through the reducers. The original run is not touched.",
		Security: bearer, Responses: streamed},
		func(ctx context.Context, in *wfForkInput) (*huma.StreamResponse, error) {
			r, err := s.Fork(ctx, ForkParams{RunID: in.ID, CheckpointID: in.Body.CheckpointID, StatePatch: in.Body.StatePatch, Background: in.Body.Background})
			if err != nil {
				return nil, err
			}
			return respond(v1, s, r, in.Body.Stream || httpx.WantsSSE(in.Accept)), nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "cancel-workflow-run", Method: http.MethodPost, Path: "/workflow-runs/{id}/cancel", Tags: tag,
		Summary: "Cancel a run, wherever it executes", Security: bearer},
		func(ctx context.Context, in *wfRunIDInput) (*wfRunBody, error) {
			r, err := s.Cancel(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			return &wfRunBody{RunOut(r)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "create-workflow-thread", Method: http.MethodPost, Path: "/workflows/{id}/threads", Tags: tag,
		Summary: "Open a thread: ordered runs on one state",
		Description: "Pass its id as thread_id when running the workflow. Input that arrives while a run is active follows the policy: " +
			"reject (409), enqueue (runs after), interrupt (stops the active run, keeps its progress) or rollback (stops it, discards its progress).",
		DefaultStatus: http.StatusCreated, Security: bearer},
		func(ctx context.Context, in *wfCreateThreadInput) (*wfThreadBody, error) {
			t, err := s.CreateThread(ctx, in.ID, in.Body.Policy)
			if err != nil {
				return nil, err
			}
			return &wfThreadBody{workflowThreadOut(t)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "get-workflow-thread", Method: http.MethodGet, Path: "/workflow-threads/{id}", Tags: tag,
		Summary: "A thread: its state and active run", Security: bearer},
		func(ctx context.Context, in *wfRunIDInput) (*wfThreadBody, error) {
			t, err := s.GetThread(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			return &wfThreadBody{workflowThreadOut(t)}, nil
		})
}

// respond answers a started run: 202 when it is queued (or waits its
// turn), the finished run, or its event stream.
func respond(v1 *httpx.API, s *Service, r *Run, stream bool) *huma.StreamResponse {
	return httpx.RunResponse[*Run]{API: v1, Queued: r.Status != StatusRunning, Location: httpx.APIPrefix + "/workflow-runs/" + r.ID,
		QueuedBody: RunOut(r), Stream: stream, Created: RunOut(r),
		Execute: func(ctx context.Context, emit func(events.Type, any)) (*Run, error) {
			var local func(graph.Event)
			if emit != nil {
				local = func(e graph.Event) { emit(e.Type, e.Data) }
			}
			return s.Execute(ctx, r, local)
		},
		Done:       func(out *Run) (events.Type, any) { return finalEvent[out.Status], RunOut(out) },
		FailStatus: http.StatusServiceUnavailable, FailMessage: "the run could not be completed here; it continues in the background",
		StreamFailed: func() (events.Type, any) {
			return events.RunRequeued, map[string]string{"id": r.ID, "message": "the run continues in the background"}
		},
	}.Response()
}
