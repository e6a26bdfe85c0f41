package agent_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/app/apptest"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

func setup(t *testing.T, e config.Engine) *apptest.Bundle {
	t.Helper()
	return apptest.New(t, e, nil, app.Options{})
}

const minimal = `{"name":"Planner","instructions":"Plan the week.","model":"openai/gpt-4o-mini"}`

func create(t *testing.T, b *apptest.Bundle, token, body string) string {
	t.Helper()
	res := apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: token, Body: body, ExpectedStatus: http.StatusCreated}.Test(t, b.H)
	var a struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(res.Body), &a))
	require.Len(t, a.ID, 36)
	return a.ID
}

func TestCreateAndValidate(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e)
		u := b.NewUser(t)
		helper := create(t, b, u.Token, `{"name":"Helper","instructions":"Help.","model":"anthropic/claude-3-5-haiku"}`)
		full := `{"name":"Planner","description":"Plans weeks","instructions":"Plan the week.","model":"openai/gpt-4o-mini",
			"model_settings":{"temperature":0.2,"max_turns":5,"fallbacks":["gemini/gemini-2.0-flash"]},
			"tools":[{"type":"builtin","name":"current_time","needs_approval":true},{"type":"agent","id":"` + helper + `"}],
			"handoffs":["` + helper + `"],
			"guardrails":[{"type":"max_length","stage":"input","max_chars":4000},{"type":"blocked_patterns","stage":"output","patterns":["(?i)password"]}],
			"output_schema":{"type":"object","properties":{"plan":{"type":"string"}},"required":["plan"]},
			"visibility":"unlisted","tags":["Planning","school","planning"]}`
		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "full definition", Method: "POST", Path: "/api/v1/agents", Auth: u.Token, Body: full, ExpectedStatus: 201,
				ExpectedJSON: map[string]any{"name": "Planner", "version": 1, "access": "owner", "visibility": "unlisted", "owner_id": u.ID,
					"tags": []string{"planning", "school"}, "tools.#": 2, "tools.0.needs_approval": true, "model_settings.max_turns": 5,
					"output_schema.required": []string{"plan"}, "handoffs.0": helper}},
			{Name: "needs auth", Method: "POST", Path: "/api/v1/agents", Body: minimal, ExpectedStatus: 401},
			{Name: "unknown provider", Method: "POST", Path: "/api/v1/agents", Auth: u.Token,
				Body:           `{"name":"x","instructions":"y","model":"skynet/t-1000"}`,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.model"}},
			{Name: "model without provider", Method: "POST", Path: "/api/v1/agents", Auth: u.Token,
				Body: `{"name":"x","instructions":"y","model":"gpt-4o"}`, ExpectedStatus: 422},
			{Name: "unknown fallback provider", Method: "POST", Path: "/api/v1/agents", Auth: u.Token,
				Body:           `{"name":"x","instructions":"y","model":"openai/gpt-4o","model_settings":{"fallbacks":["nope/m"]}}`,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.model_settings.fallbacks[0]"}},
			{Name: "unknown builtin tool", Method: "POST", Path: "/api/v1/agents", Auth: u.Token,
				Body:           `{"name":"x","instructions":"y","model":"openai/gpt-4o","tools":[{"type":"builtin","name":"rm_rf"}]}`,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.tools[0].name"}},
			{Name: "unknown function tool", Method: "POST", Path: "/api/v1/agents", Auth: u.Token,
				Body:           `{"name":"x","instructions":"y","model":"openai/gpt-4o","tools":[{"type":"function","id":"nope"}]}`,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.tools[0].id"}},
			{Name: "unknown MCP server", Method: "POST", Path: "/api/v1/agents", Auth: u.Token,
				Body:           `{"name":"x","instructions":"y","model":"openai/gpt-4o","tools":[{"type":"mcp","server_id":"nope"}]}`,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.tools[0].server_id"}},
			{Name: "bad tool type", Method: "POST", Path: "/api/v1/agents", Auth: u.Token,
				Body: `{"name":"x","instructions":"y","model":"openai/gpt-4o","tools":[{"type":"shell"}]}`, ExpectedStatus: 422},
			{Name: "unknown handoff", Method: "POST", Path: "/api/v1/agents", Auth: u.Token,
				Body:           `{"name":"x","instructions":"y","model":"openai/gpt-4o","handoffs":["nope"]}`,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.handoffs[0]"}},
			{Name: "bad guardrail regex", Method: "POST", Path: "/api/v1/agents", Auth: u.Token,
				Body:           `{"name":"x","instructions":"y","model":"openai/gpt-4o","guardrails":[{"type":"blocked_patterns","stage":"input","patterns":["(unclosed"]}]}`,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.guardrails[0].patterns[0]"}},
			{Name: "output schema without type", Method: "POST", Path: "/api/v1/agents", Auth: u.Token,
				Body:           `{"name":"x","instructions":"y","model":"openai/gpt-4o","output_schema":{"properties":{}}}`,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.output_schema"}},
			{Name: "bad tag", Method: "POST", Path: "/api/v1/agents", Auth: u.Token,
				Body: `{"name":"x","instructions":"y","model":"openai/gpt-4o","tags":["no spaces!"]}`, ExpectedStatus: 422},
			{Name: "missing instructions", Method: "POST", Path: "/api/v1/agents", Auth: u.Token,
				Body: `{"name":"x","model":"openai/gpt-4o"}`, ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.instructions"}},
			{Name: "blank name", Method: "POST", Path: "/api/v1/agents", Auth: u.Token,
				Body: `{"name":"   ","instructions":"y","model":"openai/gpt-4o"}`, ExpectedStatus: 422},
			{Name: "tool catalog", Method: "GET", Path: "/api/v1/tools", ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.0.name": "current_time", "items.0.parameters.type": "object"}},
		})
	})
}

func TestIsolationAndSharing(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e)
		alice, bob := b.NewUser(t), b.NewUser(t)
		private := create(t, b, alice.Token, minimal)
		unlisted := create(t, b, alice.Token, `{"name":"Open","instructions":"x","model":"openai/gpt-4o","visibility":"unlisted"}`)

		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "another user's private agent is 404", Method: "GET", Path: "/api/v1/agents/" + private, Auth: bob.Token, ExpectedStatus: 404},
			{Name: "and cannot be patched", Method: "PATCH", Path: "/api/v1/agents/" + private, Auth: bob.Token, Body: `{"name":"mine"}`, ExpectedStatus: 404},
			{Name: "nor deleted", Method: "DELETE", Path: "/api/v1/agents/" + private, Auth: bob.Token, ExpectedStatus: 404},
			{Name: "nor its versions read", Method: "GET", Path: "/api/v1/agents/" + private + "/versions", Auth: bob.Token, ExpectedStatus: 404},
			{Name: "nor used as a handoff", Method: "POST", Path: "/api/v1/agents", Auth: bob.Token,
				Body: `{"name":"x","instructions":"y","model":"openai/gpt-4o","handoffs":["` + private + `"]}`, ExpectedStatus: 422},
			{Name: "an unlisted agent can be viewed by id", Method: "GET", Path: "/api/v1/agents/" + unlisted, Auth: bob.Token,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"access": "run"}},
			{Name: "but not edited", Method: "PATCH", Path: "/api/v1/agents/" + unlisted, Auth: bob.Token, Body: `{"name":"mine"}`, ExpectedStatus: 403},
			{Name: "and is not in bob's list", Method: "GET", Path: "/api/v1/agents", Auth: bob.Token, ExpectedStatus: 200, ExpectedJSON: map[string]any{"items.#": 0}},
			{Name: "only the owner shares", Method: "PUT", Path: "/api/v1/agents/" + unlisted + "/grants/" + bob.ID, Auth: bob.Token, Body: `{"permission":"edit"}`, ExpectedStatus: 403},
			{Name: "share with bob to edit", Method: "PUT", Path: "/api/v1/agents/" + private + "/grants/" + bob.ID, Auth: alice.Token, Body: `{"permission":"edit"}`,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"permission": "edit", "user_id": bob.ID}},
			{Name: "grant to an unknown user", Method: "PUT", Path: "/api/v1/agents/" + private + "/grants/nobody", Auth: alice.Token, Body: `{"permission":"view"}`, ExpectedStatus: 404},
			{Name: "bad permission", Method: "PUT", Path: "/api/v1/agents/" + private + "/grants/" + bob.ID, Auth: alice.Token, Body: `{"permission":"own"}`, ExpectedStatus: 422},
			{Name: "bob now sees it in his list", Method: "GET", Path: "/api/v1/agents", Auth: bob.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 1, "items.0.id": private, "items.0.access": "edit"}},
			{Name: "and may edit it", Method: "PATCH", Path: "/api/v1/agents/" + private, Auth: bob.Token, Body: `{"instructions":"Plan the month."}`,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"version": 2, "instructions": "Plan the month."}},
			{Name: "but not change its visibility", Method: "PATCH", Path: "/api/v1/agents/" + private, Auth: bob.Token, Body: `{"visibility":"public"}`, ExpectedStatus: 403},
			{Name: "nor delete it", Method: "DELETE", Path: "/api/v1/agents/" + private, Auth: bob.Token, ExpectedStatus: 403},
			{Name: "grants listed for the owner", Method: "GET", Path: "/api/v1/agents/" + private + "/grants", Auth: alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 1}},
			{Name: "unshare", Method: "DELETE", Path: "/api/v1/agents/" + private + "/grants/" + bob.ID, Auth: alice.Token, ExpectedStatus: 204},
			{Name: "bob is back to 404", Method: "GET", Path: "/api/v1/agents/" + private, Auth: bob.Token, ExpectedStatus: 404},
			{Name: "owner deletes", Method: "DELETE", Path: "/api/v1/agents/" + private, Auth: alice.Token, ExpectedStatus: 204},
			{Name: "gone", Method: "GET", Path: "/api/v1/agents/" + private, Auth: alice.Token, ExpectedStatus: 404},
		})
	})
}

func TestVersions(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e)
		u := b.NewUser(t)
		id := create(t, b, u.Token, minimal)
		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "v2", Method: "PATCH", Path: "/api/v1/agents/" + id, Auth: u.Token, Body: `{"model":"anthropic/claude-3-5-sonnet","tags":["a"]}`,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"version": 2, "model": "anthropic/claude-3-5-sonnet", "instructions": "Plan the week."}},
			{Name: "a bad patch changes nothing", Method: "PATCH", Path: "/api/v1/agents/" + id, Auth: u.Token, Body: `{"model":"bad"}`, ExpectedStatus: 422},
			{Name: "v3", Method: "PATCH", Path: "/api/v1/agents/" + id, Auth: u.Token, Body: `{"instructions":"Plan the year."}`,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"version": 3}},
			{Name: "history", Method: "GET", Path: "/api/v1/agents/" + id + "/versions", Auth: u.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 3, "items.0.version": 3, "items.2.spec.model": "openai/gpt-4o-mini", "items.1.spec.model": "anthropic/claude-3-5-sonnet"}},
			{Name: "restore v1 as v4", Method: "POST", Path: "/api/v1/agents/" + id + "/versions/1/restore", Auth: u.Token,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"version": 4, "model": "openai/gpt-4o-mini", "instructions": "Plan the week.", "tags": []string{"a"}}},
			{Name: "restore a missing version", Method: "POST", Path: "/api/v1/agents/" + id + "/versions/99/restore", Auth: u.Token, ExpectedStatus: 404},
			{Name: "old versions are unchanged", Method: "GET", Path: "/api/v1/agents/" + id + "/versions", Auth: u.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 4, "items.1.spec.instructions": "Plan the year."}},
		})
	})
}

func TestListPagingSearchAndTags(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e)
		u, other := b.NewUser(t), b.NewUser(t)
		for i := range 7 {
			tag := "even"
			if i%2 == 1 {
				tag = "odd"
			}
			create(t, b, u.Token, fmt.Sprintf(`{"name":"Agent %d","description":"number %d","instructions":"x","model":"openai/gpt-4o","tags":["%s"]}`, i, i, tag))
		}
		create(t, b, other.Token, `{"name":"Agent 99_%","instructions":"x","model":"openai/gpt-4o"}`)

		var seen []string
		cursor := ""
		for page := 0; page < 5; page++ {
			res := apitest.Scenario{Method: "GET", Path: "/api/v1/agents?limit=3&cursor=" + cursor, Auth: u.Token, ExpectedStatus: 200}.Test(t, b.H)
			var out struct {
				Items []struct {
					Name         string
					Instructions string
				}
				NextCursor string `json:"next_cursor"`
			}
			require.NoError(t, json.Unmarshal([]byte(res.Body), &out))
			for _, it := range out.Items {
				seen = append(seen, it.Name)
				require.Equal(t, "x", it.Instructions, "list items carry the current spec")
			}
			if out.NextCursor == "" {
				break
			}
			cursor = out.NextCursor
		}
		require.Equal(t, []string{"Agent 6", "Agent 5", "Agent 4", "Agent 3", "Agent 2", "Agent 1", "Agent 0"}, seen, "newest first, no gaps, no repeats")

		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "by tag", Method: "GET", Path: "/api/v1/agents?tag=odd", Auth: u.Token, ExpectedStatus: 200, ExpectedJSON: map[string]any{"items.#": 3}},
			{Name: "by words", Method: "GET", Path: "/api/v1/agents?q=NUMBER%205", Auth: u.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 1, "items.0.name": "Agent 5"}},
			{Name: "LIKE wildcards are literal", Method: "GET", Path: "/api/v1/agents?q=" + strings.ReplaceAll("_%", "%", "%25"), Auth: u.Token,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"items.#": 0}},
			{Name: "limit bounds", Method: "GET", Path: "/api/v1/agents?limit=1000", Auth: u.Token, ExpectedStatus: 422},
		})
	})
}

// Concurrent edits each succeed or get a clean 409; the history has no gaps.
func TestConcurrentEdits(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e)
		u := b.NewUser(t)
		id := create(t, b, u.Token, minimal)
		const n = 6
		codes := make(chan int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				res := apitest.Scenario{Method: "PATCH", Path: "/api/v1/agents/" + id, Auth: u.Token, Body: fmt.Sprintf(`{"instructions":"edit %d"}`, i)}.Do(b.H) // off the test goroutine: no require here
				codes <- res.Status
			})
		}
		wg.Wait()
		close(codes)
		ok := 0
		for c := range codes {
			require.Contains(t, []int{200, 409}, c)
			if c == 200 {
				ok++
			}
		}
		require.Positive(t, ok)
		apitest.Scenario{Method: "GET", Path: "/api/v1/agents/" + id + "/versions", Auth: u.Token, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"items.#": ok + 1, "items.0.version": ok + 1}}.Test(t, b.H)
	})
}
