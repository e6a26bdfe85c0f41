package job_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/app/apptest"
	"github.com/pulse-run/pulse/internal/job"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/durable"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

type testBundle struct {
	*apptest.Bundle
	flakyCalls atomic.Int32
}

// setup registers four task types: echo returns its payload with the
// caller's id, flaky fails transiently twice, broken fails for good, panics
// panics.
func setup(t *testing.T, e config.Engine) *testBundle {
	t.Helper()
	b := &testBundle{}
	types := []job.Type{
		{Name: "echo", Payload: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}`),
			Handle: func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error) {
				pr, _ := authn.From(ctx)
				return json.Marshal(map[string]any{"echo": json.RawMessage(payload), "user": pr.UserID})
			}},
		{Name: "flaky", Handle: func(context.Context, json.RawMessage) (json.RawMessage, error) {
			if b.flakyCalls.Add(1) <= 2 {
				return nil, fmt.Errorf("%w: upstream busy", job.ErrTransient)
			}
			return json.RawMessage(`"finally"`), nil
		}},
		{Name: "broken", Handle: func(context.Context, json.RawMessage) (json.RawMessage, error) {
			return nil, fmt.Errorf("the calendar is not connected")
		}},
		{Name: "panics", Handle: func(context.Context, json.RawMessage) (json.RawMessage, error) {
			var m map[string]int
			m["bug"]++ // a nil map
			return nil, nil
		}},
	}
	model := llmtest.New(llmtest.Say("Done."))
	b.Bundle = apptest.New(t, e, nil, app.Options{Models: map[string]llm.Provider{"openai": model}, JobTypes: types})
	require.NoError(t, b.App.StartQueue(context.Background()))
	return b
}

func (b *testBundle) start(t *testing.T, token, body string) string {
	t.Helper()
	res := apitest.Scenario{Method: "POST", Path: "/api/v1/agent/run", Auth: token, Body: body, ExpectedStatus: 202,
		ExpectedJSON: map[string]any{"status": "queued"}, ExpectedHeaders: map[string]string{"Location": "*"}}.Test(t, b.H)
	return gjson.Get(res.Body, "job_id").String()
}

func (b *testBundle) await(t *testing.T, token, id string) string {
	t.Helper()
	var body string
	require.Eventually(t, func() bool {
		body = apitest.Scenario{Method: "GET", Path: "/api/v1/jobs/" + id, Auth: token, ExpectedStatus: 200}.Test(t, b.H).Body
		s := gjson.Get(body, "status").String()
		return s == "succeeded" || s == "failed"
	}, 30*time.Second, 25*time.Millisecond)
	return body
}

func TestJobs(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e)
		alice, bob := b.NewUser(t), b.NewUser(t)

		echo := b.start(t, alice.Token, `{"type":"echo","payload":{"text":"hi"}}`)
		done := b.await(t, alice.Token, echo)
		require.Equal(t, "succeeded", gjson.Get(done, "status").String())
		require.Equal(t, "hi", gjson.Get(done, "result.echo.text").String())
		require.Equal(t, alice.ID, gjson.Get(done, "result.user").String(), "it ran as its owner")
		require.Equal(t, int64(1), gjson.Get(done, "attempts").Int())

		flaky := b.start(t, alice.Token, `{"type":"flaky"}`)
		done = b.await(t, alice.Token, flaky)
		require.Equal(t, "succeeded", gjson.Get(done, "status").String(), done)
		require.Equal(t, int64(3), gjson.Get(done, "attempts").Int(), "retried after two transient failures")

		broken := b.start(t, alice.Token, `{"type":"broken"}`)
		done = b.await(t, alice.Token, broken)
		require.Equal(t, "failed", gjson.Get(done, "status").String())
		require.Equal(t, "the calendar is not connected", gjson.Get(done, "error").String())
		require.Equal(t, int64(1), gjson.Get(done, "attempts").Int(), "a permanent failure is not retried")

		// A handler that panics fails its job with a reason (the durable
		// core logs the stack) and is not retried.
		panics := b.start(t, alice.Token, `{"type":"panics"}`)
		done = b.await(t, alice.Token, panics)
		require.Equal(t, "failed", gjson.Get(done, "status").String())
		require.Equal(t, durable.PanicReason, gjson.Get(done, "error").String())
		require.Equal(t, int64(1), gjson.Get(done, "attempts").Int())

		// The built-in agent type runs an agent in the background; its job
		// id is the run's id.
		agent := apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: alice.Token, ExpectedStatus: 201,
			Body: `{"name":"Helper","instructions":"x","model":"openai/gpt-test"}`}.Test(t, b.H)
		agentJob := b.start(t, alice.Token, `{"type":"agent","payload":{"agent_id":"`+gjson.Get(agent.Body, "id").String()+`","input":"hello"}}`)
		done = b.await(t, alice.Token, agentJob)
		require.Equal(t, "succeeded", gjson.Get(done, "status").String())
		require.Equal(t, "Done.", gjson.Get(done, "result").String())
		apitest.Scenario{Method: "GET", Path: "/api/v1/runs/" + agentJob, Auth: alice.Token, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"background": true, "job_id": agentJob}}.Test(t, b.H)

		for _, sc := range []apitest.Scenario{
			{Name: "another user's job", Method: "GET", Path: "/api/v1/jobs/" + echo, Auth: bob.Token, ExpectedStatus: 404},
			{Name: "another user's agent-run job", Method: "GET", Path: "/api/v1/jobs/" + agentJob, Auth: bob.Token, ExpectedStatus: 404},
			{Name: "no such job", Method: "GET", Path: "/api/v1/jobs/nope", Auth: alice.Token, ExpectedStatus: 404},
			{Name: "signed out", Method: "GET", Path: "/api/v1/jobs/" + echo, ExpectedStatus: 401},
			{Name: "unknown type", Method: "POST", Path: "/api/v1/agent/run", Auth: alice.Token, Body: `{"type":"nope"}`, ExpectedStatus: 422,
				ExpectedContent: []string{"body.type", "agent, broken, echo, flaky, panics"}},
			{Name: "payload against the type's schema", Method: "POST", Path: "/api/v1/agent/run", Auth: alice.Token,
				Body: `{"type":"echo","payload":{"text":5}}`, ExpectedStatus: 422, ExpectedContent: []string{"body.payload"}},
			{Name: "agent payload", Method: "POST", Path: "/api/v1/agent/run", Auth: alice.Token,
				Body: `{"type":"agent","payload":{"input":"x"}}`, ExpectedStatus: 422, ExpectedContent: []string{"agent_id"}},
			{Name: "someone else's agent", Method: "POST", Path: "/api/v1/agent/run", Auth: bob.Token,
				Body: `{"type":"agent","payload":{"agent_id":"` + gjson.Get(agent.Body, "id").String() + `","input":"x"}}`, ExpectedStatus: 404},
		} {
			sc.Test(t, b.H)
		}
	})
}
