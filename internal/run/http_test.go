package run_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/app/apptest"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

func TestRunsOverHTTP(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		model := llmtest.New(
			llmtest.Call(llm.ToolCall{ID: "c1", Name: "current_time", Arguments: json.RawMessage(`{"timezone":"UTC"}`)}),
			llmtest.Say("It is morning."))
		b := apptest.New(t, e, nil, app.Options{Models: map[string]llm.Provider{"openai": model}})
		alice, bob := b.NewUser(t), b.NewUser(t)
		res := apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: alice.Token, ExpectedStatus: 201,
			Body: `{"name":"Clock","instructions":"Tell the time.","model":"openai/gpt-test","tools":[{"type":"builtin","name":"current_time"}]}`}.Test(t, b.H)
		agentID := decodeID(t, res.Body)

		run := apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: alice.Token, Body: `{"input":"What time is it?"}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "succeeded", "output": "It is morning.", "agent_version": 1,
				"usage.input_tokens": 22, "usage.output_tokens": 13}}.Test(t, b.H)
		runID := decodeID(t, run.Body)

		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "get", Method: "GET", Path: "/api/v1/runs/" + runID, Auth: alice.Token, ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "succeeded"}},
			{Name: "the trace, in order", Method: "GET", Path: "/api/v1/runs/" + runID + "/steps", Auth: alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 3, "items.0.kind": "model", "items.1.kind": "tool", "items.1.name": "current_time",
					"items.1.status": "succeeded", "items.2.output.text": "It is morning."}},
			{Name: "listed", Method: "GET", Path: "/api/v1/runs?agent_id=" + agentID + "&status=succeeded", Auth: alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 1, "items.0.id": runID}},
			{Name: "another user's run is 404", Method: "GET", Path: "/api/v1/runs/" + runID, Auth: bob.Token, ExpectedStatus: 404},
			{Name: "and its steps too", Method: "GET", Path: "/api/v1/runs/" + runID + "/steps", Auth: bob.Token, ExpectedStatus: 404},
			{Name: "bob cannot run alice's private agent", Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: bob.Token, Body: `{"input":"hi"}`, ExpectedStatus: 404},
			{Name: "bob's list is empty", Method: "GET", Path: "/api/v1/runs", Auth: bob.Token, ExpectedStatus: 200, ExpectedJSON: map[string]any{"items.#": 0}},
			{Name: "empty input", Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: alice.Token, Body: `{"input":"  "}`, ExpectedStatus: 422},
			{Name: "needs auth", Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Body: `{"input":"hi"}`, ExpectedStatus: 401},
		})

		// A provider that is not configured is a recorded, explained failure.
		res = apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: alice.Token, ExpectedStatus: 201,
			Body: `{"name":"Claude","instructions":"x","model":"anthropic/claude-test"}`}.Test(t, b.H)
		apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + decodeID(t, res.Body) + "/runs", Auth: alice.Token, Body: `{"input":"hi"}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "failed", "error.code": "provider_unavailable"}}.Test(t, b.H)
	})
}

func decodeID(t *testing.T, body string) string {
	t.Helper()
	var v struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(body), &v))
	require.NotEmpty(t, v.ID)
	return v.ID
}

func TestConversations(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		model := llmtest.New(llmtest.Say("Nice to meet you, Ada."), llmtest.Say("Your name is Ada."))
		b := apptest.New(t, e, nil, app.Options{Models: map[string]llm.Provider{"openai": model}})
		alice, bob := b.NewUser(t), b.NewUser(t)
		agentID := decodeID(t, apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: alice.Token, ExpectedStatus: 201,
			Body: `{"name":"Chat","instructions":"Chat.","model":"openai/gpt-test"}`}.Test(t, b.H).Body)

		first := apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: alice.Token, Body: `{"input":"I am Ada."}`,
			ExpectedStatus: 200}.Test(t, b.H)
		var r struct {
			ConversationID string `json:"conversation_id"`
		}
		require.NoError(t, json.Unmarshal([]byte(first.Body), &r))
		require.NotEmpty(t, r.ConversationID, "a new conversation is started")

		apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: alice.Token,
			Body:           `{"input":"What is my name?","conversation_id":"` + r.ConversationID + `"}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"conversation_id": r.ConversationID, "output": "Your name is Ada."}}.Test(t, b.H)
		sent := model.Calls()[1].Messages
		require.Len(t, sent, 4, "system, the first exchange, and the new question")
		require.Equal(t, "I am Ada.", sent[1].Content)
		require.Equal(t, "Nice to meet you, Ada.", sent[2].Content)
		require.Equal(t, "What is my name?", sent[3].Content)

		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "messages", Method: "GET", Path: "/api/v1/conversations/" + r.ConversationID + "/messages", Auth: alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 4, "items.0.role": "user", "items.1.role": "assistant", "items.3.content": "Your name is Ada.", "items.3.seq": 4}},
			{Name: "another user's conversation is 404", Method: "GET", Path: "/api/v1/conversations/" + r.ConversationID + "/messages", Auth: bob.Token, ExpectedStatus: 404},
			{Name: "and cannot be continued", Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: alice.Token,
				Body: `{"input":"hi","conversation_id":"nope"}`, ExpectedStatus: 404},
		})
	})
}

type sseEvent struct {
	name string
	data string
}

// readSSE parses an event stream.
func readSSE(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			cur.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		case line == "":
			out = append(out, cur)
			cur = sseEvent{}
		}
	}
	return out
}

func TestStreamingRun(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		model := llmtest.New(
			llmtest.Call(llm.ToolCall{ID: "c1", Name: "current_time", Arguments: json.RawMessage(`{}`)}),
			llmtest.Say("It is morning."))
		b := apptest.New(t, e, nil, app.Options{Models: map[string]llm.Provider{"openai": model}})
		u := b.NewUser(t)
		agentID := decodeID(t, apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: u.Token, ExpectedStatus: 201,
			Body: `{"name":"Clock","instructions":"Tell the time.","model":"openai/gpt-test","tools":[{"type":"builtin","name":"current_time"}]}`}.Test(t, b.H).Body)
		srv := httptest.NewServer(b.H)
		defer srv.Close()

		post := func(body string, headers map[string]string) *http.Response {
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/agents/"+agentID+"/runs", strings.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+u.Token)
			for k, v := range headers {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			return res
		}

		res := post(`{"input":"What time is it?","stream":true}`, nil)
		defer res.Body.Close()
		require.Equal(t, 200, res.StatusCode)
		require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
		events := readSSE(t, res.Body)
		var names []string
		for _, ev := range events {
			names = append(names, ev.name)
		}
		require.Equal(t, []string{"run.created", "step.started", "step.completed", "tool.called", "tool.result", "step.completed",
			"step.started", "message.delta", "message.delta", "message.delta", "step.completed", "run.completed"}, names)
		require.Contains(t, events[0].data, `"status":"running"`)
		require.Contains(t, events[3].data, `"name":"current_time"`)
		// The answer arrives piece by piece, tagged with the step it belongs to.
		var text strings.Builder
		for _, ev := range events[7:10] {
			var d struct {
				Seq  int    `json:"seq"`
				Text string `json:"text"`
			}
			require.NoError(t, json.Unmarshal([]byte(ev.data), &d))
			require.Equal(t, 3, d.Seq)
			text.WriteString(d.Text)
		}
		require.Equal(t, "It is morning.", text.String())
		require.Contains(t, events[11].data, `"status":"succeeded"`)
		require.Contains(t, events[11].data, `"output":"It is morning."`)

		// Accept: text/event-stream works too; a refusal before the run is
		// still an ordinary problem response.
		res2 := post(`{"input":"again"}`, map[string]string{"Accept": "text/event-stream"})
		defer res2.Body.Close()
		require.Equal(t, "text/event-stream", res2.Header.Get("Content-Type"))
		res3 := post(`{"input":"  ","stream":true}`, nil)
		defer res3.Body.Close()
		require.Equal(t, 422, res3.StatusCode)
		require.Equal(t, "application/problem+json", res3.Header.Get("Content-Type"))
	})
}

func TestApprovalsOverHTTP(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		ask := llmtest.Call(llm.ToolCall{ID: "c1", Name: "current_time", Arguments: json.RawMessage(`{}`)})
		model := llmtest.New(ask, llmtest.Say("Done."), ask)
		b := apptest.New(t, e, nil, app.Options{Models: map[string]llm.Provider{"openai": model}})
		alice, bob := b.NewUser(t), b.NewUser(t)
		agentID := decodeID(t, apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: alice.Token, ExpectedStatus: 201,
			Body: `{"name":"Careful","instructions":"x","model":"openai/gpt-test","tools":[{"type":"builtin","name":"current_time","needs_approval":true}]}`}.Test(t, b.H).Body)

		paused := apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: alice.Token, Body: `{"input":"time?"}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "requires_action", "required_action.tool_calls.0.name": "current_time"}}.Test(t, b.H)
		runID := decodeID(t, paused.Body)
		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "another user cannot approve", Method: "POST", Path: "/api/v1/runs/" + runID + "/approve", Auth: bob.Token, ExpectedStatus: 404},
			{Name: "approve", Method: "POST", Path: "/api/v1/runs/" + runID + "/approve", Auth: alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"status": "succeeded", "output": "Done."}},
			{Name: "a second decision conflicts", Method: "POST", Path: "/api/v1/runs/" + runID + "/reject", Auth: alice.Token, ExpectedStatus: 409},
			{Name: "the trace shows the approval", Method: "GET", Path: "/api/v1/runs/" + runID + "/steps", Auth: alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.1.kind": "approval", "items.1.name": "requested", "items.2.kind": "approval", "items.2.name": "approved", "items.3.kind": "tool"}},
			{Name: "an ended run cannot be cancelled", Method: "POST", Path: "/api/v1/runs/" + runID + "/cancel", Auth: alice.Token, ExpectedStatus: 409},
		})

		// A paused run can be rejected with a reason, or cancelled.
		third := decodeID(t, apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: alice.Token, Body: `{"input":"once more"}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "requires_action"}}.Test(t, b.H).Body)
		apitest.Scenario{Method: "POST", Path: "/api/v1/runs/" + third + "/cancel", Auth: alice.Token, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"status": "cancelled", "error.code": "cancelled"}}.Test(t, b.H)
		apitest.Scenario{Method: "POST", Path: "/api/v1/runs/" + third + "/approve", Auth: alice.Token, ExpectedStatus: 409}.Test(t, b.H)
	})
}

// Costs come from the price table: gpt-4o-mini is 150,000 / 600,000
// micro-credits per million input / output tokens.
func TestRunCost(t *testing.T) {
	t.Parallel()
	model := llmtest.New(llmtest.Call(llm.ToolCall{ID: "c", Name: "current_time", Arguments: json.RawMessage(`{}`)}), llmtest.Say("ok"))
	b := apptest.New(t, config.SQLite, nil, app.Options{Models: map[string]llm.Provider{"openai": model}})
	u := b.NewUser(t)
	agentID := decodeID(t, apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: u.Token, ExpectedStatus: 201,
		Body: `{"name":"Priced","instructions":"x","model":"openai/gpt-4o-mini","tools":[{"type":"builtin","name":"current_time"}]}`}.Test(t, b.H).Body)
	// Step 1: 12 in, 8 out → (1.8 + 4.8) rounds up to 7. Step 3: 10 in, 5 out → (1.5 + 3) rounds up to 5.
	run := apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: u.Token, Body: `{"input":"hi"}`,
		ExpectedStatus: 200, ExpectedJSON: map[string]any{"usage.cost_micros": 12}}.Test(t, b.H)
	apitest.Scenario{Method: "GET", Path: "/api/v1/runs/" + decodeID(t, run.Body) + "/steps", Auth: u.Token, ExpectedStatus: 200,
		ExpectedJSON: map[string]any{"items.0.cost_micros": 7, "items.1.cost_micros": 0, "items.2.cost_micros": 5}}.Test(t, b.H)
}

// Token deltas reach the bus coalesced (each publish is a round trip to
// PostgreSQL or Redis in a cluster), and nothing of the text is lost.
func TestBusDeltasAreCoalesced(t *testing.T) {
	t.Parallel()
	text := strings.TrimSpace(strings.Repeat("word ", 40))
	model := llmtest.New(llmtest.Say(text))
	b := apptest.New(t, config.SQLite, nil, app.Options{Models: map[string]llm.Provider{"openai": model}})
	u := b.NewUser(t)
	sub := b.App.Bus().Subscribe([]string{events.UserKey(u.ID)}, 256)
	defer sub.Close()
	agentID := decodeID(t, apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: u.Token, ExpectedStatus: 201,
		Body: `{"name":"Talker","instructions":"x","model":"openai/gpt-test"}`}.Test(t, b.H).Body)
	apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: u.Token, Body: `{"input":"talk"}`,
		ExpectedStatus: 200, ExpectedJSON: map[string]any{"output": text}}.Test(t, b.H)
	var deltas int
	var got strings.Builder
	for {
		ev := <-sub.C()
		if ev.Type == events.MessageDelta {
			deltas++
			var d struct{ Text string }
			require.NoError(t, json.Unmarshal(ev.Data, &d))
			got.WriteString(d.Text)
		}
		if ev.Type == events.RunCompleted {
			break
		}
	}
	require.Equal(t, text, got.String())
	require.Less(t, deltas, 40, "40 pieces, fewer publishes")
	require.Positive(t, deltas)
}
