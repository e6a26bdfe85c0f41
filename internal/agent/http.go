package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/pulse-run/pulse/internal/platform/httpx"
)

var bearer = []map[string][]string{{"bearer": {}}, {"oauth2": {}}}

// AgentOut is an agent as the API shows it.
type AgentOut struct {
	ID            string         `json:"id"`
	OwnerID       string         `json:"owner_id"`
	Name          string         `json:"name"`
	Description   string         `json:"description"`
	Instructions  string         `json:"instructions"`
	Model         string         `json:"model"`
	ModelSettings ModelSettings  `json:"model_settings"`
	Tools         []ToolRef      `json:"tools"`
	Handoffs      []string       `json:"handoffs"`
	Guardrails    []Guardrail    `json:"guardrails"`
	OutputSchema  map[string]any `json:"output_schema,omitempty"`
	Visibility    string         `json:"visibility"`
	Tags          []string       `json:"tags"`
	Version       int            `json:"version" doc:"the current version; every change makes a new one"`
	Access        string         `json:"access" enum:"owner,edit,run,view" doc:"what you may do with it"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
}

func schemaMap(raw json.RawMessage) map[string]any {
	if len(raw) == 0 {
		return nil
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

func agentOut(a *Agent, acc Access) AgentOut {
	out := AgentOut{ID: a.ID, OwnerID: a.OwnerID, Name: a.Name, Description: a.Description, Visibility: a.Visibility,
		Tags: a.Tags, Version: a.CurrentVersion, Access: string(acc), CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	if sp := a.Spec; sp != nil {
		out.Instructions, out.Model, out.ModelSettings = sp.Instructions, sp.Model, sp.ModelSettings
		out.Tools, out.Handoffs, out.Guardrails, out.OutputSchema = sp.Tools, sp.Handoffs, sp.Guardrails, schemaMap(sp.OutputSchema)
	}
	out.Tools, out.Handoffs, out.Guardrails = httpx.NonNil(out.Tools), httpx.NonNil(out.Handoffs), httpx.NonNil(out.Guardrails)
	return out
}

// specOut is sp as a response shows it: its arrays are never null.
func specOut(sp Spec) Spec {
	sp.Tools, sp.Handoffs, sp.Guardrails = httpx.NonNil(sp.Tools), httpx.NonNil(sp.Handoffs), httpx.NonNil(sp.Guardrails)
	return sp
}

type agentBody struct{ Body AgentOut }

type createInput struct {
	Body struct {
		Name          string         `json:"name" maxLength:"100"`
		Description   string         `json:"description,omitempty" maxLength:"2000"`
		Instructions  string         `json:"instructions" maxLength:"100000"`
		Model         string         `json:"model" maxLength:"250" doc:"provider/model: openai/…, anthropic/…, gemini/…, ollama/…"`
		ModelSettings ModelSettings  `json:"model_settings,omitempty"`
		Tools         []ToolRef      `json:"tools,omitempty" maxItems:"64"`
		Handoffs      []string       `json:"handoffs,omitempty" maxItems:"16" doc:"ids of agents this one may hand the conversation to"`
		Guardrails    []Guardrail    `json:"guardrails,omitempty" maxItems:"20"`
		OutputSchema  map[string]any `json:"output_schema,omitempty" doc:"JSON Schema the final output must match"`
		Visibility    string         `json:"visibility,omitempty" enum:"private,unlisted,public"`
		Tags          []string       `json:"tags,omitempty" maxItems:"20"`
	}
}

type patchInput struct {
	ID   string `path:"id" maxLength:"64"`
	Body struct {
		Name          *string         `json:"name,omitempty" maxLength:"100"`
		Description   *string         `json:"description,omitempty" maxLength:"2000"`
		Instructions  *string         `json:"instructions,omitempty" maxLength:"100000"`
		Model         *string         `json:"model,omitempty" maxLength:"250"`
		ModelSettings *ModelSettings  `json:"model_settings,omitempty"`
		Tools         *[]ToolRef      `json:"tools,omitempty" maxItems:"64"`
		Handoffs      *[]string       `json:"handoffs,omitempty" maxItems:"16"`
		Guardrails    *[]Guardrail    `json:"guardrails,omitempty" maxItems:"20"`
		OutputSchema  *map[string]any `json:"output_schema,omitempty"`
		Visibility    *string         `json:"visibility,omitempty" enum:"private,unlisted,public"`
		Tags          *[]string       `json:"tags,omitempty" maxItems:"20"`
	}
}

type idInput struct {
	ID string `path:"id" maxLength:"64"`
}

type agentListInput struct {
	Limit  int    `query:"limit" minimum:"0" maximum:"100"`
	Cursor string `query:"cursor" maxLength:"64"`
	Q      string `query:"q" maxLength:"200" doc:"words in the name or description"`
	Tag    string `query:"tag" maxLength:"32"`
}

type agentListOutput struct {
	Body struct {
		Items      []AgentOut `json:"items"`
		NextCursor string     `json:"next_cursor,omitempty"`
	}
}

type versionOut struct {
	Version   int       `json:"version"`
	Spec      Spec      `json:"spec"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

type versionsOutput struct {
	Body struct {
		Items []versionOut `json:"items"`
	}
}

type restoreInput struct {
	ID      string `path:"id" maxLength:"64"`
	Version int    `path:"version" minimum:"1"`
}

type grantOut struct {
	UserID     string    `json:"user_id"`
	Permission string    `json:"permission"`
	CreatedAt  time.Time `json:"created_at"`
}

type grantsOutput struct {
	Body struct {
		Items []grantOut `json:"items"`
	}
}

type grantInput struct {
	ID     string `path:"id" maxLength:"64"`
	UserID string `path:"user_id" maxLength:"64"`
	Body   struct {
		Permission string `json:"permission" enum:"view,run,edit"`
	}
}

type grantPath struct {
	ID     string `path:"id" maxLength:"64"`
	UserID string `path:"user_id" maxLength:"64"`
}

type grantBody struct{ Body grantOut }

func rawSchema(m map[string]any) json.RawMessage {
	if m == nil {
		return nil
	}
	b, _ := json.Marshal(m)
	return b
}

// Register adds the agent operations.
func Register(v1 *httpx.API, s *Service) {
	tag := []string{"Agents"}
	httpx.Register(v1, huma.Operation{OperationID: "create-agent", Method: http.MethodPost, Path: "/agents", Tags: tag,
		Summary: "Create an agent", DefaultStatus: http.StatusCreated, Security: bearer},
		func(ctx context.Context, in *createInput) (*agentBody, error) {
			b := in.Body
			a, acc, err := s.Create(ctx, Input{Spec: Spec{Name: b.Name, Description: b.Description, Instructions: b.Instructions, Model: b.Model,
				ModelSettings: b.ModelSettings, Tools: b.Tools, Handoffs: b.Handoffs, Guardrails: b.Guardrails, OutputSchema: rawSchema(b.OutputSchema)},
				Visibility: b.Visibility, Tags: b.Tags})
			if err != nil {
				return nil, err
			}
			return &agentBody{Body: agentOut(a, acc)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "list-agents", Method: http.MethodGet, Path: "/agents", Tags: tag,
		Summary: "My agents and those shared with me", Security: bearer},
		func(ctx context.Context, in *agentListInput) (*agentListOutput, error) {
			list, next, err := s.List(ctx, ListParams{Query: in.Q, Tag: in.Tag, Cursor: in.Cursor, Limit: in.Limit})
			if err != nil {
				return nil, err
			}
			out := &agentListOutput{}
			out.Body.Items = make([]AgentOut, len(list))
			for i := range list {
				out.Body.Items[i] = agentOut(&list[i].Agent, list[i].Access)
			}
			out.Body.NextCursor = next
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "get-agent", Method: http.MethodGet, Path: "/agents/{id}", Tags: tag,
		Summary: "An agent", Security: bearer},
		func(ctx context.Context, in *idInput) (*agentBody, error) {
			a, acc, err := s.Get(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			return &agentBody{Body: agentOut(a, acc)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "update-agent", Method: http.MethodPatch, Path: "/agents/{id}", Tags: tag,
		Summary: "Change an agent (makes a new version)", Security: bearer},
		func(ctx context.Context, in *patchInput) (*agentBody, error) {
			b := in.Body
			p := Patch{Name: b.Name, Description: b.Description, Instructions: b.Instructions, Model: b.Model, ModelSettings: b.ModelSettings,
				Tools: b.Tools, Handoffs: b.Handoffs, Guardrails: b.Guardrails, Visibility: b.Visibility, Tags: b.Tags}
			if b.OutputSchema != nil {
				raw := rawSchema(*b.OutputSchema)
				p.OutputSchema = &raw
			}
			a, acc, err := s.Update(ctx, in.ID, p)
			if err != nil {
				return nil, err
			}
			return &agentBody{Body: agentOut(a, acc)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "delete-agent", Method: http.MethodDelete, Path: "/agents/{id}", Tags: tag,
		Summary: "Delete an agent", DefaultStatus: http.StatusNoContent, Security: bearer},
		func(ctx context.Context, in *idInput) (*struct{}, error) { return nil, s.Delete(ctx, in.ID) })
	httpx.Register(v1, huma.Operation{OperationID: "list-agent-versions", Method: http.MethodGet, Path: "/agents/{id}/versions", Tags: tag,
		Summary: "Every version of an agent, newest first", Security: bearer},
		func(ctx context.Context, in *idInput) (*versionsOutput, error) {
			vs, err := s.Versions(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			out := &versionsOutput{}
			out.Body.Items = make([]versionOut, len(vs))
			for i, v := range vs {
				out.Body.Items[i] = versionOut{Version: v.Version, Spec: specOut(v.Spec.V), CreatedBy: v.CreatedBy, CreatedAt: v.CreatedAt}
			}
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "restore-agent-version", Method: http.MethodPost, Path: "/agents/{id}/versions/{version}/restore", Tags: tag,
		Summary: "Make an old version current again (as a new version)", Security: bearer},
		func(ctx context.Context, in *restoreInput) (*agentBody, error) {
			a, acc, err := s.Restore(ctx, in.ID, in.Version)
			if err != nil {
				return nil, err
			}
			return &agentBody{Body: agentOut(a, acc)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "list-agent-grants", Method: http.MethodGet, Path: "/agents/{id}/grants", Tags: tag,
		Summary: "Who the agent is shared with", Security: bearer},
		func(ctx context.Context, in *idInput) (*grantsOutput, error) {
			gs, err := s.Grants(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			out := &grantsOutput{}
			out.Body.Items = make([]grantOut, len(gs))
			for i, g := range gs {
				out.Body.Items[i] = grantOut{UserID: g.UserID, Permission: g.Permission, CreatedAt: g.CreatedAt}
			}
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "put-agent-grant", Method: http.MethodPut, Path: "/agents/{id}/grants/{user_id}", Tags: tag,
		Summary: "Share the agent with a user (view, run or edit)", Security: bearer},
		func(ctx context.Context, in *grantInput) (*grantBody, error) {
			g, err := s.SetGrant(ctx, in.ID, in.UserID, in.Body.Permission)
			if err != nil {
				return nil, err
			}
			return &grantBody{Body: grantOut{UserID: g.UserID, Permission: g.Permission, CreatedAt: g.CreatedAt}}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "delete-agent-grant", Method: http.MethodDelete, Path: "/agents/{id}/grants/{user_id}", Tags: tag,
		Summary: "Stop sharing the agent with a user", DefaultStatus: http.StatusNoContent, Security: bearer},
		func(ctx context.Context, in *grantPath) (*struct{}, error) {
			return nil, s.RemoveGrant(ctx, in.ID, in.UserID)
		})
}
