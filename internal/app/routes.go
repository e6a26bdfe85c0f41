package app

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/pulse-run/pulse/internal/agent"
	"github.com/pulse-run/pulse/internal/auth"
	"github.com/pulse-run/pulse/internal/job"
	"github.com/pulse-run/pulse/internal/planner"
	"github.com/pulse-run/pulse/internal/platform/buildinfo"
	"github.com/pulse-run/pulse/internal/platform/httpx"
	"github.com/pulse-run/pulse/internal/platform/kv"
	"github.com/pulse-run/pulse/internal/platform/vault"
	"github.com/pulse-run/pulse/internal/providerkey"
	"github.com/pulse-run/pulse/internal/realtime"
	"github.com/pulse-run/pulse/internal/run"
	"github.com/pulse-run/pulse/internal/tool"
	"github.com/pulse-run/pulse/internal/workflow"
)

// features are the services every feature package's HTTP operations need.
// Each feature adds its service here and its Register call in
// registerRoutes. A nil field is allowed when only the OpenAPI document is
// being built.
type features struct {
	auth        *auth.Service
	agents      *agent.Service
	runs        *run.Service
	keys        *providerkey.Service
	catalog     tool.Catalog
	mcp         *tool.MCP
	realtime    *realtime.Service
	corsOrigins []string
	kv          *kv.Store    // idempotency records
	vault       *vault.Vault // seals kept responses with one-time secrets
	jobs        *job.Service
	workflows   *workflow.Service
	planner     *planner.Service
}

// registerRoutes attaches every feature's operations under /api/v1 (and the
// few that must live at the root, like /.well-known). It must not touch the
// services while registering: `pulse openapi` calls it with none.
func registerRoutes(root huma.API, v1 *httpx.API, f features) {
	registerMeta(v1)
	auth.Register(root, v1, f.auth)
	tool.Register(v1, f.catalog)
	tool.RegisterMCP(v1, f.mcp)
	agent.Register(v1, f.agents)
	run.Register(v1, f.runs)
	realtime.Register(v1, f.realtime, f.corsOrigins)
	job.Register(v1, f.jobs)
	providerkey.Register(v1, f.keys)
	workflow.Register(v1, f.workflows)
	planner.Register(v1, f.planner)
	addRequestExamples(root.OpenAPI())
}

type metaOutput struct {
	Body struct {
		Name    string `json:"name" example:"pulse"`
		Version string `json:"version" example:"v1.0.0"`
	}
}

func registerMeta(api *httpx.API) {
	httpx.Register(api, huma.Operation{
		OperationID: "get-meta", Method: http.MethodGet, Path: "/meta", Tags: []string{"Meta"},
		Summary: "Server name and version",
	}, func(context.Context, *struct{}) (*metaOutput, error) {
		out := &metaOutput{}
		out.Body.Name = "pulse"
		out.Body.Version = buildinfo.Version
		return out, nil
	})
}
