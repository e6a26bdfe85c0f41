// Package tool holds what agents can call: the built-in tools and, later,
// user-defined function tools and MCP servers. It answers whether a tool
// reference is valid and publishes the catalog.
package tool

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/httpx"
)

// Builtin describes a tool that ships with Pulse.
type Builtin struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters" doc:"JSON Schema of the arguments"`
}

// Builtins is the catalog of built-in tools: only tools that work are listed.
var Builtins = []Builtin{
	{Name: "current_time", Description: "The current date and time, in a given IANA time zone (default UTC).",
		Parameters: json.RawMessage(`{"type":"object","properties":{"timezone":{"type":"string","description":"IANA time zone, e.g. Europe/Paris"}},"additionalProperties":false}`)},
	{Name: "web_fetch", Description: "Fetch a public web page and return its readable text (private and internal addresses are refused).",
		Parameters: json.RawMessage(`{"type":"object","properties":{"url":{"type":"string","description":"http(s) URL of a public page"}},"required":["url"],"additionalProperties":false}`)},
}

// Catalog answers questions about tools.
type Catalog struct{}

// IsBuiltin reports whether name is a built-in tool.
func (Catalog) IsBuiltin(name string) bool {
	for _, b := range Builtins {
		if b.Name == name {
			return true
		}
	}
	return false
}

// CheckFunction says whether a user-defined function tool exists for the
// owner. None can exist yet: user-defined tools are not built.
func (Catalog) CheckFunction(_ context.Context, _ string, id string) error {
	return apperr.Errorf(apperr.NotFound, "function tool %q not found", id)
}

// CheckMCPServer says whether an MCP server exists for the owner. None can
// exist yet: MCP servers are not built.
func (Catalog) CheckMCPServer(_ context.Context, _ string, id string) error {
	return apperr.Errorf(apperr.NotFound, "MCP server %q not found", id)
}

type catalogOutput struct {
	Body struct {
		Items []Builtin `json:"items"`
	}
}

// Register adds the catalog operation.
func Register(v1 *httpx.API) {
	httpx.Register(v1, huma.Operation{OperationID: "list-tools", Method: http.MethodGet, Path: "/tools", Tags: []string{"Tools"},
		Summary: "The built-in tools agents can use, with their argument schemas"},
		func(context.Context, *struct{}) (*catalogOutput, error) {
			out := &catalogOutput{}
			out.Body.Items = Builtins
			return out, nil
		})
}
