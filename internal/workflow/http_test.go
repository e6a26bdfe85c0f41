package workflow_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/app/apptest"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

type testBundle struct {
	*apptest.Bundle
	alice, bob apptest.User
}

func setup(t *testing.T, e config.Engine, env map[string]string, opts app.Options) *testBundle {
	t.Helper()
	b := apptest.New(t, e, env, opts)
	return &testBundle{Bundle: b, alice: b.NewUser(t), bob: b.NewUser(t)}
}

// create saves a workflow for alice and returns its id.
func (b *testBundle) create(t *testing.T, definition string) string {
	t.Helper()
	res := apitest.Scenario{Method: "POST", Path: "/api/v1/workflows", Auth: b.alice.Token, ExpectedStatus: 201,
		Body: `{"name":"flow","definition":` + definition + `}`}.Test(t, b.H)
	return gjson.Get(res.Body, "id").String()
}

func (b *testBundle) awaitRun(t *testing.T, id string, statuses ...string) string {
	t.Helper()
	var body string
	require.Eventually(t, func() bool {
		body = apitest.Scenario{Method: "GET", Path: "/api/v1/workflow-runs/" + id, Auth: b.alice.Token, ExpectedStatus: 200}.Test(t, b.H).Body
		for _, s := range statuses {
			if gjson.Get(body, "status").String() == s {
				return true
			}
		}
		return false
	}, 20*time.Second, 20*time.Millisecond, "run %s never reached %v", id, statuses)
	return body
}

const branching = `{
  "state": {"type": "object", "properties": {"n": {"type": "number"}, "size": {"type": "string"}, "log": {"type": "array"}}},
  "reducers": {"log": "append"},
  "entry": "classify",
  "nodes": [
    {"id": "classify", "type": "router", "routes": [{"when": "state.n > 10", "to": "big"}], "default": "small"},
    {"id": "big", "type": "transform", "set": {"size": "'big'", "log": "'big'"}},
    {"id": "small", "type": "transform", "set": {"size": "'small'", "log": "'small'"}},
    {"id": "done", "type": "end"}
  ],
  "edges": [{"from": "big", "to": "done"}, {"from": "small", "to": "done"}]
}`

func TestWorkflowsCRUDVersionsAndValidation(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil, app.Options{})
		id := b.create(t, branching)
		path := "/api/v1/workflows/" + id
		v2 := strings.Replace(branching, "state.n > 10", "state.n > 100", 1)
		yamlDoc, _ := json.Marshal("entry: only\nnodes:\n  - {id: only, type: transform, set: {size: \"'yaml'\"}}\n")
		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "get", Method: "GET", Path: path, Auth: b.alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"version": 1, "latest_version": 1, "published_version": 0, "definition.entry": "classify"}},
			{Name: "another user's workflow is 404", Method: "GET", Path: path, Auth: b.bob.Token, ExpectedStatus: 404},
			{Name: "nor can they change it", Method: "PATCH", Path: path, Auth: b.bob.Token, Body: `{"name":"mine"}`, ExpectedStatus: 404},
			{Name: "a new definition is a new version", Method: "PATCH", Path: path, Auth: b.alice.Token, Body: `{"definition":` + v2 + `}`,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"version": 2, "latest_version": 2}},
			{Name: "a rename is not", Method: "PATCH", Path: path, Auth: b.alice.Token, Body: `{"name":"renamed","retention":{"keep_last":3,"ttl_seconds":0}}`,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"version": 2, "name": "renamed", "retention.keep_last": 3}},
			{Name: "the old version is intact", Method: "GET", Path: path + "?version=1", Auth: b.alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"definition.nodes.0.routes.0.when": "state.n > 10"}},
			{Name: "publish version 1", Method: "POST", Path: path + "/publish", Auth: b.alice.Token, Body: `{"version":1}`, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"published_version": 1, "version": 1}},
			{Name: "runs use the published version", Method: "POST", Path: path + "/runs", Auth: b.alice.Token, Body: `{"input":{"n":50}}`,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"version": 1, "state.size": "big"}},
			{Name: "or the one they name", Method: "POST", Path: path + "/runs", Auth: b.alice.Token, Body: `{"input":{"n":50},"version":2}`,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"version": 2, "state.size": "small"}},
			{Name: "a version that does not exist cannot run", Method: "POST", Path: path + "/runs", Auth: b.alice.Token, Body: `{"version":7}`,
				ExpectedStatus: 422},
			{Name: "versions", Method: "GET", Path: path + "/versions", Auth: b.alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 2, "items.0.version": 2, "items.1.published": true}},
			{Name: "a version that does not exist", Method: "POST", Path: path + "/publish", Auth: b.alice.Token, Body: `{"version":9}`, ExpectedStatus: 422},
			{Name: "roll back makes version 3 from 1", Method: "POST", Path: path + "/rollback", Auth: b.alice.Token, Body: `{"version":1}`, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"version": 3, "latest_version": 3, "published_version": 3, "definition.nodes.0.routes.0.when": "state.n > 10"}},
			{Name: "YAML is accepted", Method: "POST", Path: "/api/v1/workflows", Auth: b.alice.Token, Body: `{"name":"y","definition":` + string(yamlDoc) + `}`,
				ExpectedStatus: 201, ExpectedJSON: map[string]any{"definition.entry": "only", "definition.nodes.0.type": "transform"}},
			{Name: "every problem, with its path", Method: "POST", Path: "/api/v1/workflows", Auth: b.alice.Token, ExpectedStatus: 422,
				Body: `{"name":"bad","definition":{"entry":"a","state":{"type":"object","properties":{"n":{"type":"string"}}},"reducers":{"n":"add"},
				"nodes":[{"id":"a","type":"teleport"},{"id":"b","type":"noop"},{"id":"c","type":"noop"}],
				"edges":[{"from":"a","to":"ghost"},{"from":"b","to":"c"},{"from":"c","to":"b"}]}}`,
				ExpectedHeaders: map[string]string{"Content-Type": "application/problem+json"},
				ExpectedJSON: map[string]any{"errors.#": 6,
					"errors.#(location==\"body.definition.nodes[2]\").message":      `node "c" is unreachable from the entry "a"`,
					"errors.#(location==\"body.definition.reducers.n\").message":    `reducer add needs a property of type number or integer, but "n" is string`,
					"errors.#(location==\"body.definition.nodes[0].type\").message": `unknown node type "teleport"`,
					"errors.#(location==\"body.definition.edges[0].to\").message":   `no node is named "ghost"`,
					"errors.#(location==\"body.definition.nodes[1]\").message":      `node "b" is unreachable from the entry "a"`}},
			{Name: "not a document", Method: "POST", Path: "/api/v1/workflows", Auth: b.alice.Token, Body: `{"name":"x","definition":{"entry":"a","nodez":[]}}`,
				ExpectedStatus: 422, ExpectedContent: []string{`unknown field \"nodez\"`}},
			{Name: "a definition is required", Method: "POST", Path: "/api/v1/workflows", Auth: b.alice.Token, Body: `{"name":"x"}`, ExpectedStatus: 422},
			{Name: "graph view", Method: "GET", Path: path + "/graph", Auth: b.alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"entry": "classify", "nodes.#": 4, "edges.#": 4, "edges.0.kind": "route", "edges.0.conditional": true}},
			{Name: "list", Method: "GET", Path: "/api/v1/workflows", Auth: b.alice.Token, ExpectedStatus: 200, ExpectedJSON: map[string]any{"items.#": 2}},
			{Name: "bob's list is empty", Method: "GET", Path: "/api/v1/workflows", Auth: b.bob.Token, ExpectedStatus: 200, ExpectedJSON: map[string]any{"items.#": 0}},
			{Name: "delete", Method: "DELETE", Path: path, Auth: b.alice.Token, ExpectedStatus: 204},
			{Name: "gone", Method: "GET", Path: path, Auth: b.alice.Token, ExpectedStatus: 404},
		})
		mm := apitest.Scenario{Method: "GET", Path: "/api/v1/workflows/" + b.create(t, branching) + "/graph", Auth: b.alice.Token, ExpectedStatus: 200}.Test(t, b.H)
		require.Equal(t, `flowchart TD
  __start__([start])
  n_classify{"classify"}
  n_big["big"]
  n_small["small"]
  n_done(["done"])
  __start__ --> n_classify
  n_classify -.->|"state.n > 10"| n_big
  n_classify -.->|"otherwise"| n_small
  n_big --> n_done
  n_small --> n_done
`, gjson.Get(mm.Body, "mermaid").String())
	})
}

func TestRunBranchesStepsAndCheckpoints(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil, app.Options{})
		id := b.create(t, branching)
		res := apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + id + "/runs", Auth: b.alice.Token, Body: `{"input":{"n":42}}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "succeeded", "state.size": "big", "state.log": []string{"big"}, "step": 3,
				"current_nodes": []string{}, "version": 1}}.Test(t, b.H)
		runID := gjson.Get(res.Body, "id").String()
		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "the other branch", Method: "POST", Path: "/api/v1/workflows/" + id + "/runs", Auth: b.alice.Token, Body: `{"input":{"n":1}}`,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"state.size": "small"}},
			{Name: "steps, in order", Method: "GET", Path: "/api/v1/workflow-runs/" + runID + "/steps", Auth: b.alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 3, "items.0.node": "classify", "items.0.goto": []string{"big"}, "items.1.node": "big",
					"items.1.update.size": "big", "items.2.node": "done", "items.2.status": "succeeded"}},
			{Name: "a checkpoint per super-step", Method: "GET", Path: "/api/v1/workflow-runs/" + runID + "/checkpoints", Auth: b.alice.Token,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"items.#": 3, "items.0.step": 3, "items.2.step": 1, "items.2.next": []string{"big"},
					"items.1.state.size": "big"}},
			{Name: "listed", Method: "GET", Path: "/api/v1/workflows/" + id + "/runs?status=succeeded", Auth: b.alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 2}},
			{Name: "input that does not fit the schema", Method: "POST", Path: "/api/v1/workflows/" + id + "/runs", Auth: b.alice.Token,
				Body: `{"input":{"n":"many"}}`, ExpectedStatus: 422, ExpectedContent: []string{"body.input"}},
			{Name: "input must be an object", Method: "POST", Path: "/api/v1/workflows/" + id + "/runs", Auth: b.alice.Token,
				Body: `{"input":[1]}`, ExpectedStatus: 422},
			{Name: "another user's run", Method: "GET", Path: "/api/v1/workflow-runs/" + runID, Auth: b.bob.Token, ExpectedStatus: 404},
			{Name: "its steps", Method: "GET", Path: "/api/v1/workflow-runs/" + runID + "/steps", Auth: b.bob.Token, ExpectedStatus: 404},
			{Name: "another user's workflow cannot run", Method: "POST", Path: "/api/v1/workflows/" + id + "/runs", Auth: b.bob.Token, Body: `{}`, ExpectedStatus: 404},
			{Name: "a finished run cannot resume", Method: "POST", Path: "/api/v1/workflow-runs/" + runID + "/resume", Auth: b.alice.Token,
				Body: `{"input":{"ok":true}}`, ExpectedStatus: 409},
		})
	})
}

const review = `{
  "entry": "draft",
  "nodes": [
    {"id": "draft", "type": "transform", "format": {"text": "draft about {{ state.topic }}"}},
    {"id": "review", "type": "human_input", "message": "Publish it?", "output_key": "review",
     "form": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}},
    {"id": "decide", "type": "router", "routes": [{"when": "state.review.ok", "to": "publish"}], "default": "discard"},
    {"id": "publish", "type": "transform", "set": {"result": "'published: ' + state.text"}},
    {"id": "discard", "type": "transform", "set": {"result": "'discarded'"}}
  ],
  "edges": [{"from": "draft", "to": "review"}, {"from": "review", "to": "decide"}]
}`

func TestInterruptResumeAndFork(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil, app.Options{})
		id := b.create(t, review)
		res := apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + id + "/runs", Auth: b.alice.Token, Body: `{"input":{"topic":"go"}}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "interrupted", "interrupt.node": "review", "interrupt.message": "Publish it?",
				"current_nodes": []string{"review"}, "state.text": "draft about go"}}.Test(t, b.H)
		runID := gjson.Get(res.Body, "id").String()
		resume := "/api/v1/workflow-runs/" + runID + "/resume"
		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "an answer that does not fit the form", Method: "POST", Path: resume, Auth: b.alice.Token, Body: `{"input":{"ok":"sure"}}`, ExpectedStatus: 422},
			{Name: "an answer is required", Method: "POST", Path: resume, Auth: b.alice.Token, Body: `{}`, ExpectedStatus: 422},
			{Name: "not bob's to answer", Method: "POST", Path: resume, Auth: b.bob.Token, Body: `{"input":{"ok":true}}`, ExpectedStatus: 404},
			{Name: "resume", Method: "POST", Path: resume, Auth: b.alice.Token, Body: `{"input":{"ok":true}}`, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"status": "succeeded", "state.result": "published: draft about go", "state.review.ok": true}},
			{Name: "only once", Method: "POST", Path: resume, Auth: b.alice.Token, Body: `{"input":{"ok":true}}`, ExpectedStatus: 409},
		})
		// Time travel: from the checkpoint after "draft", with another
		// text, answering no this time.
		cps := apitest.Scenario{Method: "GET", Path: "/api/v1/workflow-runs/" + runID + "/checkpoints", Auth: b.alice.Token, ExpectedStatus: 200}.Test(t, b.H)
		first := gjson.Get(cps.Body, "items.#(step==1).id").String()
		require.NotEmpty(t, first)
		fork := apitest.Scenario{Method: "POST", Path: "/api/v1/workflow-runs/" + runID + "/fork", Auth: b.alice.Token,
			Body: `{"checkpoint_id":"` + first + `","state_patch":{"text":"a better draft"}}`, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"status": "interrupted", "origin": "fork", "forked_from": first, "state.text": "a better draft", "step": 1}}.Test(t, b.H)
		forkID := gjson.Get(fork.Body, "id").String()
		require.NotEqual(t, runID, forkID)
		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "the fork resumes on its own", Method: "POST", Path: "/api/v1/workflow-runs/" + forkID + "/resume", Auth: b.alice.Token,
				Body: `{"input":{"ok":true}}`, ExpectedStatus: 200, ExpectedJSON: map[string]any{"state.result": "published: a better draft"}},
			{Name: "the original is untouched", Method: "GET", Path: "/api/v1/workflow-runs/" + runID, Auth: b.alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"state.result": "published: draft about go"}},
			{Name: "a checkpoint of another run", Method: "POST", Path: "/api/v1/workflow-runs/" + forkID + "/fork", Auth: b.alice.Token,
				Body: `{"checkpoint_id":"` + first + `"}`, ExpectedStatus: 422},
			{Name: "bob cannot fork it", Method: "POST", Path: "/api/v1/workflow-runs/" + runID + "/fork", Auth: b.bob.Token,
				Body: `{"checkpoint_id":"` + first + `"}`, ExpectedStatus: 404},
		})
	})
}

// slowServer answers after a delay, counting requests.
func slowServer(t *testing.T, delay time.Duration) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	n := &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"path":"` + r.URL.Path + `"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, n
}

func TestBackgroundRunsCancelAndStream(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		srv, _ := slowServer(t, 30*time.Second)
		fast, _ := slowServer(t, 0)
		b := setup(t, e, map[string]string{"PULSE_OUTBOUND_ALLOW": "127.0.0.1/32"}, app.Options{})
		require.NoError(t, b.App.StartQueue(context.Background()))
		slow := b.create(t, `{"entry":"h","nodes":[{"id":"h","type":"http","url":"`+srv.URL+`/slow","output_key":"r"}]}`)
		res := apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + slow + "/runs", Auth: b.alice.Token, Body: `{"background":true}`,
			ExpectedStatus: 202, ExpectedJSON: map[string]any{"status": "queued"}, ExpectedHeaders: map[string]string{"Location": "*"}}.Test(t, b.H)
		id := gjson.Get(res.Body, "id").String()
		b.awaitRun(t, id, "running")
		apitest.Scenario{Method: "POST", Path: "/api/v1/workflow-runs/" + id + "/cancel", Auth: b.alice.Token, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"status": "cancelled", "error.code": "cancelled"}}.Test(t, b.H)
		apitest.Scenario{Method: "POST", Path: "/api/v1/workflow-runs/" + id + "/cancel", Auth: b.alice.Token, ExpectedStatus: 409}.Test(t, b.H)

		// A background run finishes through the queue.
		quick := b.create(t, `{"entry":"h","nodes":[{"id":"h","type":"http","method":"POST","url":"`+fast.URL+`/{{ state.name }}","body":{"x":1},"output_key":"r"}]}`)
		res = apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + quick + "/runs", Auth: b.alice.Token,
			Body: `{"background":true,"input":{"name":"ada"}}`, ExpectedStatus: 202}.Test(t, b.H)
		body := b.awaitRun(t, gjson.Get(res.Body, "id").String(), "succeeded", "failed")
		require.Equal(t, "/ada", gjson.Get(body, "state.r.body.path").String(), body)
		require.Equal(t, int64(200), gjson.Get(body, "state.r.status").Int())

		// Streaming: node events, then the run.
		req := httptest.NewRequest("POST", "/api/v1/workflows/"+quick+"/runs", strings.NewReader(`{"stream":true,"input":{"name":"bo"}}`))
		req.Header.Set("Authorization", "Bearer "+b.alice.Token)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		b.H.ServeHTTP(rec, req)
		require.Equal(t, 200, rec.Code)
		require.Equal(t, "text/event-stream", rec.Header().Get("Content-Type"))
		var types []string
		sc := bufio.NewScanner(strings.NewReader(rec.Body.String()))
		for sc.Scan() {
			if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				types = append(types, ev)
			}
		}
		require.Equal(t, []string{"run.created", "node.started", "node.completed", "state.updated", "run.completed"}, types)
	})
}

// With durability exit a run writes its progress once, when it ends:
// the same result and trace, one checkpoint.
func TestDurabilityExit(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil, app.Options{})
		id := b.create(t, strings.Replace(branching, `"entry": "classify"`, `"durability": "exit", "entry": "classify"`, 1))
		res := apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + id + "/runs", Auth: b.alice.Token, Body: `{"input":{"n":42}}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "succeeded", "state.size": "big", "step": 3}}.Test(t, b.H)
		run := gjson.Get(res.Body, "id").String()
		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "the whole trace", Method: "GET", Path: "/api/v1/workflow-runs/" + run + "/steps", Auth: b.alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 3, "items.0.node": "classify", "items.2.node": "done"}},
			{Name: "only the last checkpoint", Method: "GET", Path: "/api/v1/workflow-runs/" + run + "/checkpoints", Auth: b.alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 1, "items.0.step": 3, "items.0.id": gjson.Get(res.Body, "checkpoint_id").String()}},
			{Name: "an unknown mode", Method: "POST", Path: "/api/v1/workflows", Auth: b.alice.Token, ExpectedStatus: 422,
				Body:         `{"name":"x","definition":{"durability":"sometimes","entry":"a","nodes":[{"id":"a","type":"noop"}]}}`,
				ExpectedJSON: map[string]any{"errors.0.location": "body.definition.durability"}},
		})
		// A pause writes what happened before it.
		paused := b.create(t, strings.Replace(review, `"entry": "draft"`, `"durability": "exit", "entry": "draft"`, 1))
		res = apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + paused + "/runs", Auth: b.alice.Token, Body: `{"input":{"topic":"go"}}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "interrupted", "state.text": "draft about go"}}.Test(t, b.H)
		run = gjson.Get(res.Body, "id").String()
		apitest.Scenario{Method: "GET", Path: "/api/v1/workflow-runs/" + run + "/steps", Auth: b.alice.Token, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"items.#": 1, "items.0.node": "draft"}}.Test(t, b.H)
		apitest.Scenario{Method: "POST", Path: "/api/v1/workflow-runs/" + run + "/resume", Auth: b.alice.Token, Body: `{"input":{"ok":false}}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "succeeded", "state.result": "discarded"}}.Test(t, b.H)
		apitest.Scenario{Method: "GET", Path: "/api/v1/workflow-runs/" + run + "/steps", Auth: b.alice.Token, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"items.#": 4}}.Test(t, b.H)
	})
}
