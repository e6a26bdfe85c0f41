package workflow

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/pulse-run/pulse/internal/platform/httpx"
	"github.com/pulse-run/pulse/internal/workflow/graph"
)

var bearer = []map[string][]string{{"bearer": {}}, {"oauth2": {}}}

// WorkflowOut is a workflow with one of its versions.
type WorkflowOut struct {
	ID               string          `json:"id"`
	Name             string          `json:"name"`
	Description      string          `json:"description"`
	Version          int             `json:"version" doc:"the version whose definition this is"`
	LatestVersion    int             `json:"latest_version"`
	PublishedVersion int             `json:"published_version" doc:"the version runs use by default; 0: none published, runs use the latest"`
	Definition       json.RawMessage `json:"definition"`
	Retention        Retention       `json:"retention"`
	CreatedAt        time.Time       `json:"created_at"`
	UpdatedAt        time.Time       `json:"updated_at"`
}

func workflowOut(w *Workflow, v *Version) WorkflowOut {
	o := WorkflowOut{ID: w.ID, Name: w.Name, Description: w.Description, LatestVersion: w.LatestVersion, PublishedVersion: w.PublishedVersion,
		Retention: Retention{KeepLast: w.KeepCheckpoints, TTLSeconds: w.CheckpointTTLSeconds}, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
	if v != nil {
		o.Version, o.Definition = v.Version, v.Spec
	}
	return o
}

type workflowBody struct{ Body WorkflowOut }

type createWorkflowInput struct {
	Body struct {
		Name        string          `json:"name" maxLength:"200"`
		Description string          `json:"description,omitempty" maxLength:"2000"`
		Definition  json.RawMessage `json:"definition" doc:"the graph: {state, reducers, entry, nodes, edges, max_steps} as JSON, or the same document as a YAML string"`
		Retention   *Retention      `json:"retention,omitempty"`
	}
}

type updateWorkflowInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Name        *string         `json:"name,omitempty" maxLength:"200"`
		Description *string         `json:"description,omitempty" maxLength:"2000"`
		Definition  json.RawMessage `json:"definition,omitempty" doc:"a new definition makes a new version"`
		Retention   *Retention      `json:"retention,omitempty"`
	}
}

type workflowIDInput struct {
	ID string `path:"id" maxLength:"64"`
}

type getWorkflowInput struct {
	ID      string `path:"id" maxLength:"64"`
	Version int    `query:"version" minimum:"0" doc:"a version; 0 or absent: the latest"`
}

type workflowListInput struct {
	Cursor string `query:"cursor" maxLength:"64"`
	Limit  int    `query:"limit" minimum:"0" maximum:"100"`
}

type workflowListOutput struct {
	Body struct {
		Items      []WorkflowOut `json:"items"`
		NextCursor string        `json:"next_cursor,omitempty"`
	}
}

// WorkflowVersionOut is one saved version.
type WorkflowVersionOut struct {
	Version   int       `json:"version"`
	Published bool      `json:"published"`
	CreatedAt time.Time `json:"created_at"`
}

type wfVersionsOutput struct {
	Body struct {
		Items []WorkflowVersionOut `json:"items"`
	}
}

type wfVersionInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Version int `json:"version,omitempty" minimum:"0" doc:"for publish, 0 or absent: the latest"`
	}
}

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

// Register adds the workflow operations.
func Register(v1 *httpx.API, s *Service) {
	tag := []string{"Workflows"}
	httpx.Register(v1, huma.Operation{OperationID: "create-workflow", Method: http.MethodPost, Path: "/workflows", Tags: tag,
		Summary: "Create a workflow", Description: "Validates the graph and answers 422 listing every problem with its path. The definition becomes version 1.",
		DefaultStatus: http.StatusCreated, Security: bearer},
		func(ctx context.Context, in *createWorkflowInput) (*workflowBody, error) {
			w, v, err := s.Create(ctx, SaveParams{Name: &in.Body.Name, Description: &in.Body.Description, Definition: in.Body.Definition,
				Retention: in.Body.Retention})
			if err != nil {
				return nil, err
			}
			return &workflowBody{workflowOut(w, v)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "list-workflows", Method: http.MethodGet, Path: "/workflows", Tags: tag,
		Summary: "Your workflows, newest first", Security: bearer},
		func(ctx context.Context, in *workflowListInput) (*workflowListOutput, error) {
			ws, next, err := s.List(ctx, ListParams{Cursor: in.Cursor, Limit: in.Limit})
			if err != nil {
				return nil, err
			}
			out := &workflowListOutput{}
			out.Body.Items, out.Body.NextCursor = make([]WorkflowOut, len(ws)), next
			for i := range ws {
				out.Body.Items[i] = workflowOut(&ws[i], nil)
			}
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "get-workflow", Method: http.MethodGet, Path: "/workflows/{id}", Tags: tag,
		Summary: "A workflow with its latest (or a given) version", Security: bearer},
		func(ctx context.Context, in *getWorkflowInput) (*workflowBody, error) {
			w, v, err := s.Get(ctx, in.ID, in.Version)
			if err != nil {
				return nil, err
			}
			return &workflowBody{workflowOut(w, v)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "update-workflow", Method: http.MethodPatch, Path: "/workflows/{id}", Tags: tag,
		Summary: "Change a workflow", Description: "A new definition is validated like at creation and becomes a new version; earlier versions never change.",
		Security: bearer},
		func(ctx context.Context, in *updateWorkflowInput) (*workflowBody, error) {
			w, v, err := s.Update(ctx, in.ID, SaveParams{Name: in.Body.Name, Description: in.Body.Description, Definition: in.Body.Definition,
				Retention: in.Body.Retention})
			if err != nil {
				return nil, err
			}
			return &workflowBody{workflowOut(w, v)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "delete-workflow", Method: http.MethodDelete, Path: "/workflows/{id}", Tags: tag,
		Summary: "Delete a workflow with its versions, runs, threads and triggers", DefaultStatus: http.StatusNoContent, Security: bearer},
		func(ctx context.Context, in *workflowIDInput) (*struct{}, error) {
			return nil, s.Delete(ctx, in.ID)
		})
	httpx.Register(v1, huma.Operation{OperationID: "list-workflow-versions", Method: http.MethodGet, Path: "/workflows/{id}/versions", Tags: tag,
		Summary: "A workflow's versions, newest first", Security: bearer},
		func(ctx context.Context, in *workflowIDInput) (*wfVersionsOutput, error) {
			w, vs, err := s.Versions(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			out := &wfVersionsOutput{}
			out.Body.Items = make([]WorkflowVersionOut, len(vs))
			for i, v := range vs {
				out.Body.Items[i] = WorkflowVersionOut{Version: v.Version, Published: v.Version == w.PublishedVersion, CreatedAt: v.CreatedAt}
			}
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "publish-workflow", Method: http.MethodPost, Path: "/workflows/{id}/publish", Tags: tag,
		Summary: "Publish a version", Description: "Runs and triggers use the published version unless a run names another.", Security: bearer},
		func(ctx context.Context, in *wfVersionInput) (*workflowBody, error) {
			w, err := s.Publish(ctx, in.ID, in.Body.Version)
			if err != nil {
				return nil, err
			}
			_, v, err := s.Get(ctx, w.ID, w.PublishedVersion)
			if err != nil {
				return nil, err
			}
			return &workflowBody{workflowOut(w, v)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "rollback-workflow", Method: http.MethodPost, Path: "/workflows/{id}/rollback", Tags: tag,
		Summary: "Roll back to an earlier version", Description: "The earlier version's definition becomes a new version, which is published.",
		Security: bearer},
		func(ctx context.Context, in *wfVersionInput) (*workflowBody, error) {
			w, err := s.Rollback(ctx, in.ID, in.Body.Version)
			if err != nil {
				return nil, err
			}
			_, v, err := s.Get(ctx, w.ID, w.LatestVersion)
			if err != nil {
				return nil, err
			}
			return &workflowBody{workflowOut(w, v)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "workflow-graph", Method: http.MethodGet, Path: "/workflows/{id}/graph", Tags: tag,
		Summary: "The workflow as nodes and edges, and as Mermaid", Security: bearer},
		func(ctx context.Context, in *getWorkflowInput) (*wfGraphOutput, error) {
			_, v, err := s.Get(ctx, in.ID, in.Version)
			if err != nil {
				return nil, err
			}
			spec, err := graph.Parse(v.Spec)
			if err != nil {
				return nil, err
			}
			return &wfGraphOutput{Body: View(spec, v.Version)}, nil
		})
	registerRuns(v1, s)
	registerTriggers(v1, s)
}

type wfGraphOutput struct{ Body WorkflowGraph }

func registerRuns(v1 *httpx.API, s *Service) {
	tag := []string{"Workflow runs"}
	runSchema := huma.SchemaFromType(v1.OpenAPI().Components.Schemas, reflect.TypeOf(WorkflowRunOut{}))
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
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		if r.Status != StatusRunning {
			hctx.SetHeader("Content-Type", "application/json")
			hctx.SetHeader("Location", httpx.APIPrefix+"/workflow-runs/"+r.ID)
			hctx.SetStatus(http.StatusAccepted)
			_ = json.NewEncoder(hctx.BodyWriter()).Encode(RunOut(r))
			return
		}
		if !stream {
			out, err := s.Execute(hctx.Context(), r, nil)
			if err != nil {
				_ = huma.WriteErr(v1, hctx, http.StatusServiceUnavailable, "the run could not be completed here; it continues in the background", err)
				return
			}
			hctx.SetHeader("Content-Type", "application/json")
			hctx.SetStatus(http.StatusOK)
			_ = json.NewEncoder(hctx.BodyWriter()).Encode(RunOut(out))
			return
		}
		sse := httpx.StartSSE(hctx)
		_ = sse.Send("run.created", RunOut(r))
		out, err := s.Execute(hctx.Context(), r, func(e graph.Event) { _ = sse.Send(e.Type, e.Data) })
		if err != nil {
			_ = sse.Send("run.requeued", map[string]string{"id": r.ID, "message": "the run continues in the background"})
			return
		}
		_ = sse.Send(finalEvent[out.Status], RunOut(out))
	}}
}
