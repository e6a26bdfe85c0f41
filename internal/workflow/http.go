package workflow

import (
	"context"
	"encoding/json"
	"net/http"
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
