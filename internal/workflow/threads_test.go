package workflow_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

// chat keeps messages across runs; an input with hold waits for a
// person, which keeps the run active.
const chat = `{
  "state": {"type": "object", "properties": {"messages": {"type": "array"}, "count": {"type": "integer"}, "hold": {"type": "boolean"}, "ok": {}}},
  "reducers": {"messages": "append", "count": "add"},
  "entry": "note",
  "nodes": [
    {"id": "note", "type": "transform", "set": {"count": "1"}},
    {"id": "wait", "type": "human_input", "output_key": "ok"},
    {"id": "done", "type": "end"}
  ],
  "edges": [{"from": "note", "to": "wait", "when": "state.hold == true"}, {"from": "note", "to": "done", "when": "state.hold != true"},
            {"from": "wait", "to": "done"}]
}`

func TestThreadPolicies(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil, app.Options{})
		require.NoError(t, b.App.StartQueue(context.Background()))
		wf := b.create(t, chat)
		thread := func(policy string) string {
			res := apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + wf + "/threads", Auth: b.alice.Token,
				Body: `{"policy":"` + policy + `"}`, ExpectedStatus: 201, ExpectedJSON: map[string]any{"policy": policy}}.Test(t, b.H)
			return gjson.Get(res.Body, "id").String()
		}
		send := func(thread, input string, status int) string {
			return apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + wf + "/runs", Auth: b.alice.Token,
				Body: `{"thread_id":"` + thread + `","input":` + input + `}`, ExpectedStatus: status}.Test(t, b.H).Body
		}
		state := func(thread string) string {
			return apitest.Scenario{Method: "GET", Path: "/api/v1/workflow-threads/" + thread, Auth: b.alice.Token, ExpectedStatus: 200}.Test(t, b.H).Body
		}

		t.Run("runs on a thread share its state", func(t *testing.T) {
			th := thread("reject")
			send(th, `{"messages":"a"}`, 200)
			out := send(th, `{"messages":"b"}`, 200)
			require.JSONEq(t, `["a","b"]`, gjson.Get(out, "state.messages").Raw)
			require.Equal(t, int64(2), gjson.Get(out, "state.count").Int())
			require.JSONEq(t, `["a","b"]`, gjson.Get(state(th), "state.messages").Raw)
		})
		t.Run("reject", func(t *testing.T) {
			th := thread("reject")
			first := send(th, `{"messages":"a","hold":true}`, 200)
			require.Equal(t, "interrupted", gjson.Get(first, "status").String())
			require.Equal(t, gjson.Get(first, "id").String(), gjson.Get(state(th), "active_run_id").String())
			send(th, `{"messages":"b"}`, 409)
		})
		t.Run("enqueue", func(t *testing.T) {
			th := thread("enqueue")
			first := gjson.Get(send(th, `{"messages":"a","hold":true}`, 200), "id").String()
			second := send(th, `{"messages":"b","hold":false}`, 202)
			require.Equal(t, "pending", gjson.Get(second, "status").String())
			apitest.Scenario{Method: "POST", Path: "/api/v1/workflow-runs/" + first + "/resume", Auth: b.alice.Token, Body: `{"input":"yes"}`,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "succeeded"}}.Test(t, b.H)
			out := b.awaitRun(t, gjson.Get(second, "id").String(), "succeeded", "failed")
			require.Equal(t, "succeeded", gjson.Get(out, "status").String(), out)
			require.JSONEq(t, `["a","b"]`, gjson.Get(out, "state.messages").Raw, "the queued input ran after the first, on its state")
			require.Equal(t, int64(2), gjson.Get(out, "state.count").Int())
		})
		t.Run("interrupt keeps the stopped run's progress", func(t *testing.T) {
			th := thread("interrupt")
			first := gjson.Get(send(th, `{"messages":"a","hold":true}`, 200), "id").String()
			out := send(th, `{"messages":"b","hold":false}`, 200)
			require.Equal(t, "succeeded", gjson.Get(out, "status").String(), out)
			require.JSONEq(t, `["a","b"]`, gjson.Get(out, "state.messages").Raw)
			require.Equal(t, int64(2), gjson.Get(out, "state.count").Int(), "the first run's note counted")
			apitest.Scenario{Method: "GET", Path: "/api/v1/workflow-runs/" + first, Auth: b.alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"status": "cancelled", "error.code": "interrupted"}}.Test(t, b.H)
		})
		t.Run("rollback discards it", func(t *testing.T) {
			th := thread("rollback")
			send(th, `{"messages":"before"}`, 200)
			first := gjson.Get(send(th, `{"messages":"a","hold":true}`, 200), "id").String()
			out := send(th, `{"messages":"b","hold":false}`, 200)
			require.JSONEq(t, `["before","b"]`, gjson.Get(out, "state.messages").Raw)
			require.Equal(t, int64(2), gjson.Get(out, "state.count").Int())
			apitest.Scenario{Method: "GET", Path: "/api/v1/workflow-runs/" + first, Auth: b.alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"status": "cancelled", "error.code": "rolled_back"}}.Test(t, b.H)
		})
		t.Run("bad threads", func(t *testing.T) {
			other := b.create(t, `{"entry":"a","nodes":[{"id":"a","type":"noop"}]}`)
			foreign := apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + other + "/threads", Auth: b.alice.Token, Body: `{}`,
				ExpectedStatus: 201, ExpectedJSON: map[string]any{"policy": "reject"}}.Test(t, b.H)
			apitest.Run(t, b.H, []apitest.Scenario{
				{Name: "a thread of another workflow", Method: "POST", Path: "/api/v1/workflows/" + wf + "/runs", Auth: b.alice.Token,
					Body: `{"thread_id":"` + gjson.Get(foreign.Body, "id").String() + `"}`, ExpectedStatus: 422},
				{Name: "no such thread", Method: "POST", Path: "/api/v1/workflows/" + wf + "/runs", Auth: b.alice.Token, Body: `{"thread_id":"nope"}`, ExpectedStatus: 422},
				{Name: "an unknown policy", Method: "POST", Path: "/api/v1/workflows/" + wf + "/threads", Auth: b.alice.Token, Body: `{"policy":"shout"}`, ExpectedStatus: 422},
				{Name: "bob's view of alice's thread", Method: "GET", Path: "/api/v1/workflow-threads/" + gjson.Get(foreign.Body, "id").String(), Auth: b.bob.Token, ExpectedStatus: 404},
			})
		})
	})
}

func TestInterruptTimeoutsAndRetention(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		// A short lease makes the reaper run every third of a second.
		b := setup(t, e, map[string]string{"PULSE_RUN_LEASE": "1s"}, app.Options{})
		require.NoError(t, b.App.StartQueue(context.Background()))
		timed := func(policy string) string {
			return b.create(t, `{"entry":"ask","nodes":[
			  {"id":"ask","type":"human_input","output_key":"answer","timeout_seconds":0.3,"on_timeout":"`+policy+`","timeout_value":{"ok":false},
			   "form":{"type":"object","properties":{"ok":{"type":"boolean"}}}},
			  {"id":"after","type":"transform","format":{"said":"{{ state.answer.ok }}"}}],
			  "edges":[{"from":"ask","to":"after"}]}`)
		}
		res := apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + timed("continue") + "/runs", Auth: b.alice.Token, Body: `{}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "interrupted", "interrupt_until": "*"}}
		res.ExpectedJSON = map[string]any{"status": "interrupted"}
		out := b.awaitRun(t, gjson.Get(res.Test(t, b.H).Body, "id").String(), "succeeded", "failed")
		require.Equal(t, "succeeded", gjson.Get(out, "status").String(), out)
		require.Equal(t, "false", gjson.Get(out, "state.said").String())

		res.Path = "/api/v1/workflows/" + timed("fail") + "/runs"
		out = b.awaitRun(t, gjson.Get(res.Test(t, b.H).Body, "id").String(), "succeeded", "failed")
		require.Equal(t, "interrupt_timeout", gjson.Get(out, "error.code").String(), out)

		// Retention: keep the newest two checkpoints of each run.
		chain := `{"entry":"a","nodes":[{"id":"a","type":"noop"},{"id":"b","type":"noop"},{"id":"c","type":"noop"},{"id":"d","type":"noop"}],
		  "edges":[{"from":"a","to":"b"},{"from":"b","to":"c"},{"from":"c","to":"d"}]}`
		kept := gjson.Get(apitest.Scenario{Method: "POST", Path: "/api/v1/workflows", Auth: b.alice.Token, ExpectedStatus: 201,
			Body: `{"name":"kept","retention":{"keep_last":2},"definition":` + chain + `}`}.Test(t, b.H).Body, "id").String()
		run := gjson.Get(apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + kept + "/runs", Auth: b.alice.Token, Body: `{}`,
			ExpectedStatus: 200}.Test(t, b.H).Body, "id").String()
		require.Eventually(t, func() bool {
			body := apitest.Scenario{Method: "GET", Path: "/api/v1/workflow-runs/" + run + "/checkpoints", Auth: b.alice.Token, ExpectedStatus: 200}.Test(t, b.H).Body
			return gjson.Get(body, "items.#").Int() == 2 && gjson.Get(body, "items.0.step").Int() == 4 && gjson.Get(body, "items.1.step").Int() == 3
		}, 10e9, 50e6)
		// And a TTL of one second forgets them all.
		apitest.Scenario{Method: "PATCH", Path: "/api/v1/workflows/" + kept, Auth: b.alice.Token, Body: `{"retention":{"keep_last":0,"ttl_seconds":1}}`,
			ExpectedStatus: 200}.Test(t, b.H)
		require.Eventually(t, func() bool {
			body := apitest.Scenario{Method: "GET", Path: "/api/v1/workflow-runs/" + run + "/checkpoints", Auth: b.alice.Token, ExpectedStatus: 200}.Test(t, b.H).Body
			return gjson.Get(body, "items.#").Int() == 0
		}, 10e9, 50e6)
		apitest.Scenario{Method: "GET", Path: "/api/v1/workflow-runs/" + run, Auth: b.alice.Token, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"status": "succeeded", "step": 4}}.Test(t, b.H)
	})
}

// The interrupt policy stops a run that is executing, not only one that
// waits for input.
func TestThreadInterruptsARunningRun(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		srv, calls := slowServer(t, 30*time.Second)
		b := setup(t, e, map[string]string{"PULSE_OUTBOUND_ALLOW": "127.0.0.1/32"}, app.Options{})
		require.NoError(t, b.App.StartQueue(context.Background()))
		wf := b.create(t, `{"state":{"type":"object","properties":{"messages":{"type":"array"}}},"reducers":{"messages":"append"},
		  "entry":"first","nodes":[
		    {"id":"first","type":"transform","set":{"messages":"'seen'"}},
		    {"id":"call","type":"http","url":"`+srv.URL+`/slow","output_key":"r","timeout_seconds":60}],
		  "edges":[{"from":"first","to":"call","when":"state.slow == true"}]}`)
		th := gjson.Get(apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + wf + "/threads", Auth: b.alice.Token,
			Body: `{"policy":"interrupt"}`, ExpectedStatus: 201}.Test(t, b.H).Body, "id").String()
		first := gjson.Get(apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + wf + "/runs", Auth: b.alice.Token,
			Body: `{"thread_id":"` + th + `","background":true,"input":{"messages":"a","slow":true}}`, ExpectedStatus: 202}.Test(t, b.H).Body, "id").String()
		require.Eventually(t, func() bool { return calls.Load() > 0 }, 10*time.Second, 10*time.Millisecond, "the first run reached its slow call")
		out := apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + wf + "/runs", Auth: b.alice.Token,
			Body: `{"thread_id":"` + th + `","input":{"messages":"b","slow":false}}`, ExpectedStatus: 200}.Test(t, b.H).Body
		require.Equal(t, "succeeded", gjson.Get(out, "status").String(), out)
		require.JSONEq(t, `["a","seen","b","seen"]`, gjson.Get(out, "state.messages").Raw, "the first run's progress was kept")
		require.Equal(t, "interrupted", gjson.Get(b.awaitRun(t, first, "cancelled"), "error.code").String())
	})
}
