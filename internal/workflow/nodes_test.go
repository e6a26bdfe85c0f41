package workflow_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

// An agent node is a real agent run (with its own trace) whose tokens
// stream through the workflow; llm and tool nodes call the model and the
// built-in tools; a subworkflow runs another workflow of the owner.
func TestAgentLLMToolAndSubworkflowNodes(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		model := llmtest.New(llmtest.Say("Go is a language."), llmtest.Say(`{"words": 4}`))
		b := setup(t, e, nil, app.Options{Models: map[string]llm.Provider{"openai": model}})
		agentID := gjson.Get(apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: b.alice.Token, ExpectedStatus: 201,
			Body: `{"name":"Writer","instructions":"Write.","model":"openai/gpt-test"}`}.Test(t, b.H).Body, "id").String()
		inner := b.create(t, `{"entry":"up","nodes":[{"id":"up","type":"transform","format":{"shout":"{{ upper(state.text) }}"}}]}`)
		wf := b.create(t, `{"entry":"write","nodes":[
		  {"id":"write","type":"agent","agent_id":"`+agentID+`","input":"Describe {{ state.topic }}","output_key":"text"},
		  {"id":"count","type":"llm","model":"openai/gpt-test","system":"Count words.","prompt":"{{ state.text }}",
		   "schema":{"type":"object","properties":{"words":{"type":"integer"}}},"output_key":"stats"},
		  {"id":"clock","type":"tool","tool":"current_time","args":{"timezone":"UTC"},"output_key":"now"},
		  {"id":"loud","type":"subworkflow","workflow_id":"`+inner+`","with":{"text":"state.text"},"output_key":"sub"}],
		  "edges":[{"from":"write","to":"count"},{"from":"count","to":"clock"},{"from":"clock","to":"loud"}]}`)

		req := httptest.NewRequest("POST", "/api/v1/workflows/"+wf+"/runs", strings.NewReader(`{"input":{"topic":"Go"}}`))
		req.Header.Set("Authorization", "Bearer "+b.alice.Token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		rec := httptest.NewRecorder()
		b.H.ServeHTTP(rec, req)
		require.Equal(t, 200, rec.Code, rec.Body.String())
		var deltas strings.Builder
		var final string
		lines := strings.Split(rec.Body.String(), "\n")
		for i, l := range lines {
			switch l {
			case "event: message.delta":
				d := strings.TrimPrefix(lines[i+1], "data: ")
				if gjson.Get(d, "node").String() == "write" {
					deltas.WriteString(gjson.Get(d, "text").String())
				}
			case "event: run.completed":
				final = strings.TrimPrefix(lines[i+1], "data: ")
			}
		}
		require.Equal(t, "Go is a language.", deltas.String(), "the agent's tokens reached the workflow's stream")
		require.NotEmpty(t, final, rec.Body.String())
		require.Equal(t, "Go is a language.", gjson.Get(final, "state.text").String())
		require.Equal(t, int64(4), gjson.Get(final, "state.stats.words").Int())
		require.Equal(t, "UTC", gjson.Get(final, "state.now.timezone").String())
		require.Equal(t, "GO IS A LANGUAGE.", gjson.Get(final, "state.sub.shout").String())
		calls := model.Calls()
		require.Len(t, calls, 2)
		require.Equal(t, "Describe Go", calls[0].Messages[len(calls[0].Messages)-1].Content)
		require.Equal(t, "Count words.", calls[1].Messages[0].Content)

		// The agent node's run is a run of its own, linked from the step.
		steps := apitest.Scenario{Method: "GET", Path: "/api/v1/workflow-runs/" + gjson.Get(final, "id").String() + "/steps", Auth: b.alice.Token,
			ExpectedStatus: 200}.Test(t, b.H).Body
		child := gjson.Get(steps, "items.0.child_run_id").String()
		require.NotEmpty(t, child)
		apitest.Scenario{Method: "GET", Path: "/api/v1/runs/" + child, Auth: b.alice.Token, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"status": "succeeded", "input": "Describe Go"}}.Test(t, b.H)

		// Nodes that reach what the owner cannot: a failed node, named.
		bad := b.create(t, `{"entry":"a","nodes":[{"id":"a","type":"agent","agent_id":"nope","input":"x","output_key":"o"}]}`)
		apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + bad + "/runs", Auth: b.bob.Token, Body: `{}`, ExpectedStatus: 404}.Test(t, b.H)
		apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + bad + "/runs", Auth: b.alice.Token, Body: `{}`, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"status": "failed", "error.code": "node_failed", "error.node": "a"}}.Test(t, b.H)
	})
}
