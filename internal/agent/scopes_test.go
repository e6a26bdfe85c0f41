package agent_test

import (
	"net/http"
	"testing"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

// Finding 2 of issue 13: a key whose scopes are ["read"] deleted agents and
// changed their sharing. Every change needs the write scope, checked before
// the agent is looked up, and the agent and its grants stay as they were.
func TestFinding2ReadOnlyKeyCannotWrite(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e)
		owner, friend := b.NewUser(t), b.NewUser(t)
		id := create(t, b, owner.Token, minimal)
		apitest.Scenario{Method: "PUT", Path: "/api/v1/agents/" + id + "/grants/" + friend.ID, Auth: owner.Token,
			Body: `{"permission":"view"}`, ExpectedStatus: http.StatusOK}.Test(t, b.H)
		read := b.APIKey(t, owner, "read")
		grant := "/api/v1/agents/" + id + "/grants/"
		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "delete agent", Method: "DELETE", Path: "/api/v1/agents/" + id, Auth: read, ExpectedStatus: 403,
				ExpectedJSON: map[string]any{"code": "permission_denied"}},
			{Name: "put grant", Method: "PUT", Path: grant + friend.ID, Auth: read, Body: `{"permission":"edit"}`, ExpectedStatus: 403},
			{Name: "delete grant", Method: "DELETE", Path: grant + friend.ID, Auth: read, ExpectedStatus: 403},
			{Name: "update agent", Method: "PATCH", Path: "/api/v1/agents/" + id, Auth: read, Body: `{"name":"x"}`, ExpectedStatus: 403},
			{Name: "restore version", Method: "POST", Path: "/api/v1/agents/" + id + "/versions/1/restore", Auth: read, ExpectedStatus: 403},
			{Name: "scope before lookup", Method: "DELETE", Path: "/api/v1/agents/00000000-0000-0000-0000-000000000000", Auth: read, ExpectedStatus: 403},
			// Reading still works, and nothing changed.
			{Name: "agent still there", Method: "GET", Path: "/api/v1/agents/" + id, Auth: read, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"name": "Planner", "version": 1}},
			{Name: "grant unchanged", Method: "GET", Path: grant[:len(grant)-1], Auth: read, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 1, "items.0.user_id": friend.ID, "items.0.permission": "view"}},
		})
	})
}
