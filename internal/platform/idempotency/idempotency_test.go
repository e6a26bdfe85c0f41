package idempotency_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/app/apptest"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

const agentBody = `{"name":"Planner","instructions":"Plan.","model":"openai/gpt-test"}`

func key(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }

func TestIdempotencyKeys(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		// The model blocks until released, so one request can be caught in
		// progress.
		release := make(chan struct{})
		var once sync.Once
		model := llmtest.New(func(req llm.Request) (*llm.Response, error) {
			if strings.Contains(req.Messages[len(req.Messages)-1].Content, "slow") {
				<-release
			}
			return llmtest.Say("ok")(req)
		})
		defer once.Do(func() { close(release) })
		b := apptest.New(t, e, nil, app.Options{Models: map[string]llm.Provider{"openai": model}})
		alice, bob := b.NewUser(t), b.NewUser(t)

		first := apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: alice.Token, Headers: key("create-planner-1"), Body: agentBody,
			ExpectedStatus: 201}.Test(t, b.H)
		id := gjson.Get(first.Body, "id").String()
		for _, sc := range []apitest.Scenario{
			{Name: "replayed: same response, no second agent", Method: "POST", Path: "/api/v1/agents", Auth: alice.Token,
				Headers: key("create-planner-1"), Body: agentBody, ExpectedStatus: 201,
				ExpectedJSON: map[string]any{"id": id}, ExpectedHeaders: map[string]string{"Idempotent-Replayed": "true", "Content-Type": "application/json"}},
			{Name: "same key, other body", Method: "POST", Path: "/api/v1/agents", Auth: alice.Token, Headers: key("create-planner-1"),
				Body: `{"name":"Other","instructions":"x","model":"openai/gpt-test"}`, ExpectedStatus: 422, ExpectedContent: []string{"different request"}},
			{Name: "same key, other path", Method: "POST", Path: "/api/v1/tools", Auth: alice.Token, Headers: key("create-planner-1"),
				Body: agentBody, ExpectedStatus: 422},
			{Name: "keys are per user", Method: "POST", Path: "/api/v1/agents", Auth: bob.Token, Headers: key("create-planner-1"),
				Body: agentBody, ExpectedStatus: 201, NotExpected: []string{id}},
			{Name: "key too long", Method: "POST", Path: "/api/v1/agents", Auth: alice.Token, Headers: key(strings.Repeat("k", 256)),
				Body: agentBody, ExpectedStatus: 400},
		} {
			sc.Test(t, b.H)
		}
		list := apitest.Scenario{Method: "GET", Path: "/api/v1/agents", Auth: alice.Token, ExpectedStatus: 200}.Test(t, b.H)
		require.Equal(t, int64(1), gjson.Get(list.Body, "items.#").Int(), "one agent despite the retry")

		// A refused request is kept too: the retry gets the same 422.
		bad := `{"name":"","instructions":"x","model":"openai/gpt-test"}`
		apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: alice.Token, Headers: key("bad-1"), Body: bad, ExpectedStatus: 422}.Test(t, b.H)
		apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: alice.Token, Headers: key("bad-1"), Body: bad, ExpectedStatus: 422,
			ExpectedHeaders: map[string]string{"Idempotent-Replayed": "true"}}.Test(t, b.H)

		// A background run created once, however often it is sent.
		runBody := `{"input":"hello","background":true}`
		r1 := apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + id + "/runs", Auth: alice.Token, Headers: key("run-1"), Body: runBody,
			ExpectedStatus: 202}.Test(t, b.H)
		r2 := apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + id + "/runs", Auth: alice.Token, Headers: key("run-1"), Body: runBody,
			ExpectedStatus: 202}.Test(t, b.H)
		require.Equal(t, gjson.Get(r1.Body, "id").String(), gjson.Get(r2.Body, "id").String())
		runs := apitest.Scenario{Method: "GET", Path: "/api/v1/runs?agent_id=" + id, Auth: alice.Token, ExpectedStatus: 200}.Test(t, b.H)
		require.Equal(t, int64(1), gjson.Get(runs.Body, "items.#").Int())

		// While the first is still running, a duplicate is told so.
		slow := `{"input":"slow please"}`
		before := len(model.Calls())
		// The first request runs off the test goroutine, where require cannot
		// stop the test: it only performs the request, and its response is
		// checked back here.
		firstSc := apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + id + "/runs", Auth: alice.Token, Headers: key("run-2"), Body: slow,
			ExpectedStatus: 200}
		done := make(chan apitest.Response, 1)
		go func() { done <- firstSc.Do(b.H) }()
		require.Eventually(t, func() bool { return len(model.Calls()) > before }, 5*time.Second, 10*time.Millisecond, "the first request reached the model")
		apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + id + "/runs", Auth: alice.Token, Headers: key("run-2"), Body: slow,
			ExpectedStatus: 409, ExpectedHeaders: map[string]string{"Retry-After": "1"}}.Test(t, b.H)
		once.Do(func() { close(release) })
		var firstRun apitest.Response
		select {
		case firstRun = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the first request did not finish after the model was released")
		}
		firstSc.Check(t, firstRun)
		again := apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + id + "/runs", Auth: alice.Token, Headers: key("run-2"), Body: slow,
			ExpectedStatus: 200, ExpectedHeaders: map[string]string{"Idempotent-Replayed": "true"}}.Test(t, b.H)
		require.JSONEq(t, firstRun.Body, again.Body)

		// Unauthenticated requests ignore the header: a replayed sign-in
		// could hand one client's tokens to another.
		body := `{"email":"same@example.com","password":"correct horse battery"}`
		apitest.Scenario{Method: "POST", Path: "/api/v1/auth/register", Headers: key("reg"), Body: body, ExpectedStatus: 201}.Test(t, b.H)
		apitest.Scenario{Method: "POST", Path: "/api/v1/auth/register", Headers: key("reg"), Body: body, ExpectedStatus: 409}.Test(t, b.H)
	})
}
