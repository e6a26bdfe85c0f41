package run_test

import (
	"context"
	"errors"
	"sync/atomic"
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

func awaitRun(t *testing.T, b *apptest.Bundle, token, id string, statuses ...string) string {
	t.Helper()
	var body string
	require.Eventually(t, func() bool {
		body = apitest.Scenario{Method: "GET", Path: "/api/v1/runs/" + id, Auth: token, ExpectedStatus: 200}.Test(t, b.H).Body
		for _, s := range statuses {
			if gjson.Get(body, "status").String() == s {
				return true
			}
		}
		return false
	}, 20*time.Second, 25*time.Millisecond, "run %s never reached %v", id, statuses)
	return body
}

// A transient provider failure sends a background run back to the queue;
// the next attempt continues from the checkpoint.
func TestBackgroundRunRetriesTransientFailure(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		var calls atomic.Int32
		model := llmtest.New(func(req llm.Request) (*llm.Response, error) {
			if calls.Add(1) == 1 {
				return nil, &llm.Error{Provider: "openai", Status: 503, Retryable: true, Err: errors.New("overloaded")}
			}
			return llmtest.Say("Back again.")(req)
		})
		b := apptest.New(t, e, nil, app.Options{Models: map[string]llm.Provider{"openai": model}})
		require.NoError(t, b.App.StartQueue(context.Background()))
		u := b.NewUser(t)
		agentID := decodeID(t, apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: u.Token, ExpectedStatus: 201,
			Body: `{"name":"Retry","instructions":"x","model":"openai/gpt-test"}`}.Test(t, b.H).Body)
		res := apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: u.Token, Body: `{"input":"hi","background":true}`,
			ExpectedStatus: 202, ExpectedJSON: map[string]any{"status": "queued"}, ExpectedHeaders: map[string]string{"Location": "*"}}.Test(t, b.H)
		id := gjson.Get(res.Body, "id").String()
		body := awaitRun(t, b, u.Token, id, "succeeded", "failed")
		require.Equal(t, "succeeded", gjson.Get(body, "status").String(), body)
		require.Equal(t, "Back again.", gjson.Get(body, "output").String())
		require.Equal(t, int64(2), gjson.Get(body, "attempt").Int())
		steps := apitest.Scenario{Method: "GET", Path: "/api/v1/runs/" + id + "/steps", Auth: u.Token, ExpectedStatus: 200}.Test(t, b.H).Body
		require.Equal(t, int64(2), gjson.Get(steps, "items.#").Int())
		require.Equal(t, "failed", gjson.Get(steps, "items.0.status").String())
		require.Equal(t, "succeeded", gjson.Get(steps, "items.1.status").String())
		require.Equal(t, int64(2), gjson.Get(steps, "items.1.seq").Int())
	})
}

// A run that outlives its deadline fails with deadline_exceeded.
func TestRunDeadline(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		model := llmtest.New(func(req llm.Request) (*llm.Response, error) {
			time.Sleep(5 * time.Second) // far beyond the deadline; the context is not watched by this model
			return llmtest.Say("late")(req)
		})
		b := apptest.New(t, e, map[string]string{"PULSE_RUN_TIMEOUT": "1s"}, app.Options{Models: map[string]llm.Provider{"openai": &ctxModel{model}}})
		require.NoError(t, b.App.StartQueue(context.Background()))
		u := b.NewUser(t)
		agentID := decodeID(t, apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: u.Token, ExpectedStatus: 201,
			Body: `{"name":"Slow","instructions":"x","model":"openai/gpt-test"}`}.Test(t, b.H).Body)
		res := apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: u.Token, Body: `{"input":"hi","background":true}`,
			ExpectedStatus: 202}.Test(t, b.H)
		body := awaitRun(t, b, u.Token, gjson.Get(res.Body, "id").String(), "failed", "succeeded")
		require.Equal(t, "failed", gjson.Get(body, "status").String())
		require.Equal(t, "deadline_exceeded", gjson.Get(body, "error.code").String(), body)
	})
}

// ctxModel answers ctx.Err() as soon as the run's context ends.
type ctxModel struct{ inner llm.Provider }

func (m *ctxModel) Chat(ctx context.Context, req llm.Request) (*llm.Response, error) {
	type out struct {
		r   *llm.Response
		err error
	}
	ch := make(chan out, 1)
	go func() {
		r, err := m.inner.Chat(context.WithoutCancel(ctx), req)
		ch <- out{r, err}
	}()
	select {
	case o := <-ch:
		return o.r, o.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
