package workflow_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
	"github.com/pulse-run/pulse/internal/platform/webhook"
)

const echo = `{"entry":"e","nodes":[{"id":"e","type":"transform","format":{"seen":"{{ state.who }}/{{ state.event?.name }}/{{ state.event?.data?.title }}"}}]}`

func TestWebhookTriggers(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, map[string]string{"PULSE_PUBLIC_URL": "https://pulse.example.com"}, app.Options{})
		require.NoError(t, b.App.StartQueue(context.Background()))
		wf := b.create(t, echo)
		res := apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + wf + "/triggers", Auth: b.alice.Token,
			Body: `{"type":"webhook","input":{"who":"default"}}`, ExpectedStatus: 201}.Test(t, b.H)
		id, secret := gjson.Get(res.Body, "id").String(), gjson.Get(res.Body, "secret").String()
		require.True(t, strings.HasPrefix(secret, "whsec_"))
		require.Equal(t, "https://pulse.example.com/api/v1/hooks/workflow-triggers/"+id, gjson.Get(res.Body, "webhook_url").String())
		hook := "/api/v1/hooks/workflow-triggers/" + id
		body := `{"who":"stripe"}`
		sig := func(at time.Time, s, b string) map[string]string {
			return map[string]string{"Pulse-Signature": webhook.Sign([]byte(s), at, []byte(b))}
		}
		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "the secret is shown once", Method: "GET", Path: "/api/v1/workflows/" + wf + "/triggers", Auth: b.alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 1, "items.0.type": "webhook"}, NotExpected: []string{secret}},
			{Name: "not bob's", Method: "GET", Path: "/api/v1/workflows/" + wf + "/triggers", Auth: b.bob.Token, ExpectedStatus: 404},
			{Name: "unsigned", Method: "POST", Path: hook, Body: body, ExpectedStatus: 401},
			{Name: "signed with another secret", Method: "POST", Path: hook, Body: body, Headers: sig(time.Now(), "whsec_guess", body), ExpectedStatus: 401},
			{Name: "a changed body", Method: "POST", Path: hook, Body: `{"who":"mallory"}`, Headers: sig(time.Now(), secret, body), ExpectedStatus: 401},
			{Name: "a replay from an hour ago", Method: "POST", Path: hook, Body: body, Headers: sig(time.Now().Add(-time.Hour), secret, body), ExpectedStatus: 401},
			{Name: "an unknown trigger", Method: "POST", Path: "/api/v1/hooks/workflow-triggers/nope", Body: body, Headers: sig(time.Now(), secret, body), ExpectedStatus: 404},
			{Name: "a body that is not an object", Method: "POST", Path: hook, Body: `[1]`, Headers: sig(time.Now(), secret, `[1]`), ExpectedStatus: 422},
		})
		res = apitest.Scenario{Method: "POST", Path: hook, Body: body, Headers: sig(time.Now(), secret, body), ExpectedStatus: 202,
			ExpectedJSON: map[string]any{"status": "queued", "origin": "webhook"}}.Test(t, b.H)
		out := b.awaitRun(t, gjson.Get(res.Body, "id").String(), "succeeded", "failed")
		require.Equal(t, "stripe//", gjson.Get(out, "state.seen").String(), out)

		apitest.Scenario{Method: "PATCH", Path: "/api/v1/workflow-triggers/" + id, Auth: b.alice.Token, Body: `{"enabled":false}`, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"enabled": false}}.Test(t, b.H)
		apitest.Scenario{Method: "POST", Path: hook, Body: body, Headers: sig(time.Now(), secret, body), ExpectedStatus: 409}.Test(t, b.H)
		apitest.Scenario{Method: "DELETE", Path: "/api/v1/workflow-triggers/" + id, Auth: b.bob.Token, ExpectedStatus: 404}.Test(t, b.H)
		apitest.Scenario{Method: "DELETE", Path: "/api/v1/workflow-triggers/" + id, Auth: b.alice.Token, ExpectedStatus: 204}.Test(t, b.H)
		apitest.Scenario{Method: "POST", Path: hook, Body: body, Headers: sig(time.Now(), secret, body), ExpectedStatus: 404}.Test(t, b.H)
	})
}

func TestCronTriggers(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, map[string]string{"PULSE_TRIGGER_INTERVAL": "100ms"}, app.Options{})
		require.NoError(t, b.App.StartQueue(context.Background()))
		wf := b.create(t, echo)
		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "a bad expression", Method: "POST", Path: "/api/v1/workflows/" + wf + "/triggers", Auth: b.alice.Token,
				Body: `{"type":"cron","cron":"0 25 * * *"}`, ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.cron"}},
			{Name: "an unknown zone", Method: "POST", Path: "/api/v1/workflows/" + wf + "/triggers", Auth: b.alice.Token,
				Body: `{"type":"cron","cron":"0 7 * * *","timezone":"Moon/Base"}`, ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.timezone"}},
			{Name: "an unknown type", Method: "POST", Path: "/api/v1/workflows/" + wf + "/triggers", Auth: b.alice.Token,
				Body: `{"type":"sometimes"}`, ExpectedStatus: 422},
		})
		res := apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + wf + "/triggers", Auth: b.alice.Token,
			Body: `{"type":"cron","cron":"0 7 * * *","timezone":"America/New_York","input":{"who":"cron"}}`, ExpectedStatus: 201}.Test(t, b.H)
		id := gjson.Get(res.Body, "id").String()
		next, err := time.Parse(time.RFC3339, gjson.Get(res.Body, "next_fire_at").String())
		require.NoError(t, err)
		ny, _ := time.LoadLocation("America/New_York")
		require.Equal(t, "07:00", next.In(ny).Format("15:04"))
		require.True(t, next.After(time.Now()) && next.Before(time.Now().Add(25*time.Hour)))

		// The fake clock: the trigger was due a minute ago.
		_, err = b.App.DB().W.NewUpdate().Table("workflow_triggers").Set("next_fire_at = ?", time.Now().UTC().Add(-time.Minute)).
			Where("id = ?", id).Exec(context.Background())
		require.NoError(t, err)
		var body string
		require.Eventually(t, func() bool {
			body = apitest.Scenario{Method: "GET", Path: "/api/v1/workflows/" + wf + "/triggers", Auth: b.alice.Token, ExpectedStatus: 200}.Test(t, b.H).Body
			return gjson.Get(body, "items.0.last_run_id").String() != ""
		}, 10*time.Second, 50*time.Millisecond)
		out := b.awaitRun(t, gjson.Get(body, "items.0.last_run_id").String(), "succeeded", "failed")
		require.Equal(t, "cron", gjson.Get(out, "origin").String())
		require.Equal(t, "cron//", gjson.Get(out, "state.seen").String())
		again, err := time.Parse(time.RFC3339, gjson.Get(body, "items.0.next_fire_at").String())
		require.NoError(t, err)
		require.Equal(t, next, again, "the next firing is the next 07:00 again, not a catch-up of every missed time")
		runs := apitest.Scenario{Method: "GET", Path: "/api/v1/workflows/" + wf + "/runs", Auth: b.alice.Token, ExpectedStatus: 200}.Test(t, b.H).Body
		require.Equal(t, int64(1), gjson.Get(runs, "items.#").Int(), "fired once")

		// Without a timezone, the one of the user's profile.
		apitest.Scenario{Method: "PATCH", Path: "/api/v1/users/me", Auth: b.alice.Token, Body: `{"timezone":"Asia/Tokyo"}`, ExpectedStatus: 200}.Test(t, b.H)
		res = apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + wf + "/triggers", Auth: b.alice.Token,
			Body: `{"type":"cron","cron":"30 6 * * *"}`, ExpectedStatus: 201, ExpectedJSON: map[string]any{"timezone": "Asia/Tokyo"}}.Test(t, b.H)
		tokyo, _ := time.LoadLocation("Asia/Tokyo")
		at, err := time.Parse(time.RFC3339, gjson.Get(res.Body, "next_fire_at").String())
		require.NoError(t, err)
		require.Equal(t, "06:30", at.In(tokyo).Format("15:04"))
	})
}

func TestEventTriggers(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil, app.Options{Models: map[string]llm.Provider{"openai": llmtest.New(llmtest.Say("done"))}})
		require.NoError(t, b.App.StartQueue(context.Background()))
		wf := b.create(t, echo)
		// Each run of wf dispatches its own completion after the run is
		// stored as succeeded; the test waits for those dispatches
		// themselves to see that they started nothing.
		own := make(chan []string, 16)
		b.App.Workflows().OnDispatch(func(_, from string, started []string) {
			if from == wf {
				select {
				case own <- started:
				default: // a loop: the first ones already fail the test
				}
			}
		})
		trigger := func(event string) {
			apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + wf + "/triggers", Auth: b.alice.Token,
				Body: `{"type":"event","event":"` + event + `","input":{"who":"ev"}}`, ExpectedStatus: 201}.Test(t, b.H)
		}
		trigger("app.task_created")
		trigger("workflow_run.completed")
		trigger("agent_run.completed")
		apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + wf + "/triggers", Auth: b.alice.Token,
			Body: `{"type":"event","event":"Not An Event"}`, ExpectedStatus: 422}.Test(t, b.H)

		res := apitest.Scenario{Method: "POST", Path: "/api/v1/events", Auth: b.alice.Token, Body: `{"name":"app.task_created","data":{"title":"Essay"}}`,
			ExpectedStatus: 202, ExpectedJSON: map[string]any{"runs.#": 1}}.Test(t, b.H)
		out := b.awaitRun(t, gjson.Get(res.Body, "runs.0").String(), "succeeded", "failed")
		require.Equal(t, "ev/app.task_created/Essay", gjson.Get(out, "state.seen").String(), out)
		apitest.Scenario{Method: "POST", Path: "/api/v1/events", Auth: b.bob.Token, Body: `{"name":"app.task_created"}`,
			ExpectedStatus: 202, ExpectedJSON: map[string]any{"runs.#": 0}}.Test(t, b.H)
		apitest.Scenario{Method: "POST", Path: "/api/v1/events", Auth: b.alice.Token, Body: `{"name":"workflow_run.completed"}`,
			ExpectedStatus: 422}.Test(t, b.H)

		// Platform events: another workflow finishing, an agent run finishing.
		// (This workflow's own runs do not trigger it: no loops.)
		other := b.create(t, `{"entry":"a","nodes":[{"id":"a","type":"noop"}]}`)
		apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + other + "/runs", Auth: b.alice.Token, Body: `{}`, ExpectedStatus: 200}.Test(t, b.H)
		agent := gjson.Get(apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: b.alice.Token, ExpectedStatus: 201,
			Body: `{"name":"A","instructions":"x","model":"openai/gpt-test"}`}.Test(t, b.H).Body, "id").String()
		apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agent + "/runs", Auth: b.alice.Token, Body: `{"input":"hi"}`, ExpectedStatus: 200}.Test(t, b.H)
		var names []string
		require.Eventually(t, func() bool {
			body := apitest.Scenario{Method: "GET", Path: "/api/v1/workflows/" + wf + "/runs?status=succeeded", Auth: b.alice.Token, ExpectedStatus: 200}.Test(t, b.H).Body
			names = nil
			for _, r := range gjson.Get(body, "items").Array() {
				names = append(names, gjson.Get(r.Raw, "input.event.name").String())
			}
			return len(names) == 3
		}, 10*time.Second, 50*time.Millisecond, "runs: %v", names)
		require.ElementsMatch(t, []string{"app.task_created", "workflow_run.completed", "agent_run.completed"}, names)
		for i := range 3 {
			select {
			case started := <-own:
				require.Empty(t, started, "the workflow's own completion %d started runs of it", i+1)
			case <-time.After(10 * time.Second):
				t.Fatalf("the completion of the workflow's run %d was never dispatched", i+1)
			}
		}
		body := apitest.Scenario{Method: "GET", Path: "/api/v1/workflows/" + wf + "/runs", Auth: b.alice.Token, ExpectedStatus: 200}.Test(t, b.H).Body
		require.Equal(t, int64(3), gjson.Get(body, "items.#").Int(), "the workflow's own completions did not trigger it")
	})
}

// Webhook secrets are re-encrypted by a key rotation and keep working.
func TestWebhookSecretsSurviveKeyRotation(t *testing.T) {
	t.Parallel()
	b := setup(t, config.SQLite, nil, app.Options{})
	wf := b.create(t, echo)
	res := apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + wf + "/triggers", Auth: b.alice.Token,
		Body: `{"type":"webhook"}`, ExpectedStatus: 201}.Test(t, b.H)
	id, secret := gjson.Get(res.Body, "id").String(), gjson.Get(res.Body, "secret").String()
	ctx := context.Background()
	stored := func() string {
		var enc string
		require.NoError(t, b.App.DB().R.NewSelect().Table("workflow_triggers").Column("secret").Where("id = ?", id).Scan(ctx, &enc))
		return enc
	}
	before := stored()
	require.NotContains(t, before, strings.TrimPrefix(secret, "whsec_"), "encrypted at rest")
	_, _, _, err := b.App.RotateKeys(ctx)
	require.NoError(t, err)
	require.NotEqual(t, before, stored(), "re-encrypted under the new key")
	body := `{"who":"after rotation"}`
	apitest.Scenario{Method: "POST", Path: "/api/v1/hooks/workflow-triggers/" + id, Body: body,
		Headers: map[string]string{"Pulse-Signature": webhook.Sign([]byte(secret), time.Now(), []byte(body))}, ExpectedStatus: 202}.Test(t, b.H)
}
