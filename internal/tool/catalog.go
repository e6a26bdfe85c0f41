// Package tool holds what agents can call: the built-in tools and, later,
// user-defined function tools and MCP servers. It answers whether a tool
// reference is valid and publishes the catalog.
package tool

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/httpx"
)

// Builtin describes a tool that ships with Pulse.
type Builtin struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters" doc:"JSON Schema of the arguments"`
}

// Builtins is the catalog of built-in tools that need no configuration.
var Builtins = []Builtin{
	{Name: "current_time", Description: "The current date and time, in a given IANA time zone (default UTC).",
		Parameters: json.RawMessage(`{"type":"object","properties":{"timezone":{"type":"string","description":"IANA time zone, e.g. Europe/Paris"}},"additionalProperties":false}`)},
	{Name: "web_fetch", Description: "Fetch a public web page and return its readable text (private and internal addresses are refused).",
		Parameters: json.RawMessage(`{"type":"object","properties":{"url":{"type":"string","description":"http(s) URL of a public page"}},"required":["url"],"additionalProperties":false}`)},
}

// WebSearch is the web_search tool, listed when a search provider is
// configured.
var WebSearch = Builtin{Name: "web_search", Description: "Search the web; returns titles, URLs and snippets of the best matches.",
	Parameters: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string","minLength":1,"maxLength":400,"description":"what to search for"},` +
		`"max_results":{"type":"integer","minimum":1,"maximum":10,"description":"how many results (default 5)"}},"required":["query"],"additionalProperties":false}`)}

// BuiltinNamed returns a built-in tool's definition, configured or not.
func BuiltinNamed(name string) (Builtin, bool) {
	// No append(Builtins, WebSearch): it would copy the catalogue on every
	// call, and the run loop asks once per bound tool.
	for _, b := range Builtins {
		if b.Name == name {
			return b, true
		}
	}
	if WebSearch.Name == name {
		return WebSearch, true
	}
	return Builtin{}, false
}

// Catalog answers questions about tools.
type Catalog struct {
	Functions *Functions // user-defined tools; nil: none
	MCP       *MCP       // remote MCP servers; nil: none
	Search    *Searcher  // web search; nil: web_search is not offered
}

// Builtins lists the built-in tools that work in this installation: only
// tools that work are offered.
func (c Catalog) Builtins() []Builtin {
	if c.Search == nil {
		return Builtins
	}
	return append(append([]Builtin(nil), Builtins...), WebSearch)
}

// IsBuiltin reports whether name is a built-in tool available here.
func (c Catalog) IsBuiltin(name string) bool {
	for _, b := range c.Builtins() {
		if b.Name == name {
			return true
		}
	}
	return false
}

// CheckFunction says whether the owner has this user-defined tool.
func (c Catalog) CheckFunction(ctx context.Context, ownerID, id string) error {
	if c.Functions == nil {
		return apperr.Errorf(apperr.NotFound, "function tool %q not found", id)
	}
	return c.Functions.CheckFunction(ctx, ownerID, id)
}

// CheckMCPServer says whether the owner registered this MCP server.
func (c Catalog) CheckMCPServer(ctx context.Context, ownerID, id string) error {
	if c.MCP == nil {
		return apperr.Errorf(apperr.NotFound, "MCP server %q not found", id)
	}
	return c.MCP.CheckServer(ctx, ownerID, id)
}

type catalogOutput struct {
	Body struct {
		Items     []Builtin     `json:"items" doc:"the built-in tools"`
		Functions []FunctionOut `json:"functions" doc:"your own tools, when signed in"`
	}
}

// FunctionOut is a user-defined tool as the API shows it.
type FunctionOut struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	Description    string          `json:"description"`
	Parameters     json.RawMessage `json:"parameters"`
	URL            string          `json:"url"`
	TimeoutSeconds float64         `json:"timeout_seconds"`
	Secret         string          `json:"secret,omitempty" doc:"HMAC-SHA256 signing secret of the webhook calls: shown once, at creation"`
	CreatedAt      time.Time       `json:"created_at"`
}

func functionOut(f *Function) FunctionOut {
	return FunctionOut{ID: f.ID, Name: f.Name, Description: f.Description, Parameters: f.Parameters.V, URL: f.URL,
		TimeoutSeconds: float64(f.TimeoutMS) / 1000, CreatedAt: f.CreatedAt}
}

type createFunctionInput struct {
	Body struct {
		Name           string         `json:"name" maxLength:"64"`
		Description    string         `json:"description" maxLength:"2000"`
		Parameters     map[string]any `json:"parameters,omitempty" doc:"JSON Schema (type object) of the arguments"`
		URL            string         `json:"url" maxLength:"2000" doc:"the webhook: POSTed {tool, arguments, idempotency_key}, signed in X-Pulse-Signature"`
		TimeoutSeconds int            `json:"timeout_seconds,omitempty" minimum:"0" maximum:"60"`
	}
}

type functionBody struct{ Body FunctionOut }

type functionIDInput struct {
	ID string `path:"id" maxLength:"64"`
}

type mcpOut struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	URL       string    `json:"url"`
	CreatedAt time.Time `json:"created_at"`
}

type createMCPInput struct {
	Body struct {
		Name    string            `json:"name" maxLength:"64"`
		URL     string            `json:"url" maxLength:"2000" doc:"streamable-HTTP MCP endpoint"`
		Headers map[string]string `json:"headers,omitempty" doc:"sent with every request (e.g. Authorization); stored encrypted, never shown again"`
	}
}

type mcpBody struct{ Body mcpOut }

type mcpListOutput struct {
	Body struct {
		Items []mcpOut `json:"items"`
	}
}

// RegisterMCP adds the MCP server operations.
func RegisterMCP(v1 *httpx.API, m *MCP) {
	tag := []string{"Tools"}
	bearer := []map[string][]string{{"bearer": {}}, {"oauth2": {}}}
	out := func(s *MCPServer) mcpOut { return mcpOut{ID: s.ID, Name: s.Name, URL: s.URL, CreatedAt: s.CreatedAt} }
	httpx.Register(v1, huma.Operation{OperationID: "create-mcp-server", Method: http.MethodPost, Path: "/mcp-servers", Tags: tag,
		Summary: "Register a remote MCP server whose tools agents may use", DefaultStatus: http.StatusCreated, Security: bearer},
		func(ctx context.Context, in *createMCPInput) (*mcpBody, error) {
			s, err := m.Create(ctx, CreateMCPParams{Name: in.Body.Name, URL: in.Body.URL, Headers: in.Body.Headers})
			if err != nil {
				return nil, err
			}
			return &mcpBody{Body: out(s)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "list-mcp-servers", Method: http.MethodGet, Path: "/mcp-servers", Tags: tag,
		Summary: "My MCP servers", Security: bearer},
		func(ctx context.Context, _ *struct{}) (*mcpListOutput, error) {
			list, err := m.List(ctx)
			if err != nil {
				return nil, err
			}
			res := &mcpListOutput{}
			res.Body.Items = make([]mcpOut, len(list))
			for i := range list {
				res.Body.Items[i] = out(&list[i])
			}
			return res, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "delete-mcp-server", Method: http.MethodDelete, Path: "/mcp-servers/{id}", Tags: tag,
		Summary: "Remove an MCP server", DefaultStatus: http.StatusNoContent, Security: bearer},
		func(ctx context.Context, in *functionIDInput) (*struct{}, error) { return nil, m.Delete(ctx, in.ID) })
}

// Register adds the tool operations.
func Register(v1 *httpx.API, c Catalog) {
	fns := c.Functions
	tag := []string{"Tools"}
	bearer := []map[string][]string{{"bearer": {}}, {"oauth2": {}}}
	httpx.Register(v1, huma.Operation{OperationID: "list-tools", Method: http.MethodGet, Path: "/tools", Tags: tag,
		Summary: "The tools agents can use: built-in ones and, when signed in, your own"},
		func(ctx context.Context, _ *struct{}) (*catalogOutput, error) {
			out := &catalogOutput{}
			out.Body.Items, out.Body.Functions = c.Builtins(), []FunctionOut{}
			if _, signedIn := authn.From(ctx); signedIn && fns != nil {
				list, err := fns.List(ctx)
				if err != nil {
					return nil, err
				}
				for i := range list {
					out.Body.Functions = append(out.Body.Functions, functionOut(&list[i]))
				}
			}
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "create-function-tool", Metadata: httpx.OneTimeSecret(), Method: http.MethodPost, Path: "/tools", Tags: tag,
		Summary: "Define a tool backed by your webhook", DefaultStatus: http.StatusCreated, Security: bearer},
		func(ctx context.Context, in *createFunctionInput) (*functionBody, error) {
			var params json.RawMessage
			if in.Body.Parameters != nil {
				params, _ = json.Marshal(in.Body.Parameters)
			}
			fn, secret, err := fns.Create(ctx, CreateFunctionParams{Name: in.Body.Name, Description: in.Body.Description, Parameters: params,
				URL: in.Body.URL, Timeout: time.Duration(in.Body.TimeoutSeconds) * time.Second})
			if err != nil {
				return nil, err
			}
			out := functionOut(fn)
			out.Secret = secret
			return &functionBody{Body: out}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "delete-function-tool", Method: http.MethodDelete, Path: "/tools/{id}", Tags: tag,
		Summary: "Delete one of your tools", DefaultStatus: http.StatusNoContent, Security: bearer},
		func(ctx context.Context, in *functionIDInput) (*struct{}, error) { return nil, fns.Delete(ctx, in.ID) })
}
