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
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
	"github.com/pulse-run/pulse/internal/platform/webhook"
	"github.com/pulse-run/pulse/internal/workflow"
)

const noop = `{"entry":"a","nodes":[{"id":"a","type":"noop"}]}`

// addTrigger adds an event trigger to alice's workflow and returns its id.
func (b *testBundle) addTrigger(t *testing.T, wf, body string) string {
	t.Helper()
	res := apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + wf + "/triggers", Auth: b.alice.Token,
		Body: body, ExpectedStatus: 201}.Test(t, b.H)
	return gjson.Get(res.Body, "id").String()
}

// trigger reads a trigger from the database (its owner may no longer
// be able to sign in).
func (b *testBundle) trigger(t *testing.T, id string) workflow.Trigger {
	t.Helper()
	var tr workflow.Trigger
	require.NoError(t, b.App.DB().R.NewSelect().Model(&tr).Where("id = ?", id).Scan(context.Background()))
	return tr
}

func (b *testBundle) runCount(t *testing.T, wf string) int {
	t.Helper()
	n, err := b.App.DB().R.NewSelect().Table("workflow_runs").Where("workflow_id = ?", wf).Count(context.Background())
	require.NoError(t, err)
	return int(n)
}

func (b *testBundle) awaitError(t *testing.T, id string) string {
	t.Helper()
	var msg string
	require.Eventually(t, func() bool {
		msg = b.trigger(t, id).LastError
		return msg != ""
	}, 20*time.Second, 20*time.Millisecond, "trigger %s never recorded an error", id)
	return msg
}

// Finding 11: A's completion starts B and B's starts A. The loop closes
// once: B's run, started by A's event, does not start A again, and A's
// trigger says why. An agent node's run's event does not restart its own
// workflow either.
func TestFinding11EventTriggerLoopsAreRefused(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil, app.Options{Models: map[string]llm.Provider{"openai": llmtest.New(llmtest.Say("done"))}})
		require.NoError(t, b.App.StartQueue(context.Background()))
		a, bb := b.create(t, noop), b.create(t, noop)
		ta := b.addTrigger(t, a, `{"type":"event","event":"workflow_run.completed"}`)
		b.addTrigger(t, bb, `{"type":"event","event":"workflow_run.completed"}`)

		apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + a + "/runs", Auth: b.alice.Token, Body: `{}`, ExpectedStatus: 200}.Test(t, b.H)
		msg := b.awaitError(t, ta)
		require.Contains(t, msg, "trigger loop")
		require.Contains(t, msg, a+" → "+bb+" → "+a)
		// A's refused firing was the only way on: the loop stopped.
		require.Equal(t, 1, b.runCount(t, a))
		require.Equal(t, 1, b.runCount(t, bb))
		var chain, runB string
		require.NoError(t, b.App.DB().R.NewSelect().Table("workflow_runs").Column("trigger_chain", "id").Where("workflow_id = ?", bb).
			Scan(context.Background(), &chain, &runB))
		require.JSONEq(t, `["`+a+`"]`, chain, "B's run carries the chain that started it")
		apitest.Scenario{Method: "GET", Path: "/api/v1/workflow-runs/" + runB, Auth: b.alice.Token, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"trigger_chain.0": a, "origin": "event"}}.Test(t, b.H)

		// Through an agent run: C's agent node ends an agent run, whose
		// event would start C again.
		agent := gjson.Get(apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: b.alice.Token, ExpectedStatus: 201,
			Body: `{"name":"A","instructions":"x","model":"openai/gpt-test"}`}.Test(t, b.H).Body, "id").String()
		c := b.create(t, `{"entry":"ask","nodes":[{"id":"ask","type":"agent","agent_id":"`+agent+`","input":"hi","output_key":"o"}]}`)
		tc := b.addTrigger(t, c, `{"type":"event","event":"agent_run.completed"}`)
		apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + c + "/runs", Auth: b.alice.Token, Body: `{}`, ExpectedStatus: 200}.Test(t, b.H)
		require.Contains(t, b.awaitError(t, tc), "trigger loop")
		require.Equal(t, 1, b.runCount(t, c))
	})
}

// Finding 11: a chain of runs started one by another through events is
// at most workflow.MaxTriggerDepth long.
func TestFinding11TriggerChainDepthIsBounded(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil, app.Options{})
		require.NoError(t, b.App.StartQueue(context.Background()))
		wf := b.create(t, noop)
		tr := b.addTrigger(t, wf, `{"type":"event","event":"app.step"}`)
		chain := []string{"w1", "w2", "w3", "w4", "w5", "w6"}
		ctx := context.Background()

		started, err := b.App.Workflows().Dispatch(workflow.WithChain(ctx, chain[:workflow.MaxTriggerDepth]), b.alice.ID, "app.step", nil, "")
		require.NoError(t, err)
		require.Len(t, started, 1, "a chain of 5 runs may start one more")
		require.Empty(t, b.trigger(t, tr).LastError)
		out := b.awaitRun(t, started[0], "succeeded", "failed")
		require.Equal(t, "event", gjson.Get(out, "origin").String())

		started, err = b.App.Workflows().Dispatch(workflow.WithChain(ctx, chain), b.alice.ID, "app.step", nil, "")
		require.NoError(t, err)
		require.Empty(t, started, "a chain of 6 is refused")
		require.Contains(t, b.trigger(t, tr).LastError, "a chain holds at most 5")
		require.Equal(t, 1, b.runCount(t, wf))
	})
}

// Finding 12: a deactivated user's cron, webhook and event triggers start
// nothing, and say why.
func TestFinding12DeactivatedUsersTriggersDoNotFire(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, map[string]string{"PULSE_TRIGGER_INTERVAL": "100ms"}, app.Options{})
		require.NoError(t, b.App.StartQueue(context.Background()))
		ctx := context.Background()
		wf := b.create(t, echo)
		cron := b.addTrigger(t, wf, `{"type":"cron","cron":"0 7 * * *","timezone":"UTC"}`)
		event := b.addTrigger(t, wf, `{"type":"event","event":"app.ping"}`)
		res := apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + wf + "/triggers", Auth: b.alice.Token,
			Body: `{"type":"webhook"}`, ExpectedStatus: 201}.Test(t, b.H)
		hook, secret := gjson.Get(res.Body, "id").String(), gjson.Get(res.Body, "secret").String()

		admin := authn.With(ctx, &authn.Principal{UserID: b.bob.ID, Role: authn.RoleAdmin})
		_, err := b.App.Auth().SetActive(admin, b.alice.ID, false)
		require.NoError(t, err)

		// Cron: due a minute ago.
		_, err = b.App.DB().W.NewUpdate().Table("workflow_triggers").Set("next_fire_at = ?", time.Now().UTC().Add(-time.Minute)).
			Where("id = ?", cron).Exec(ctx)
		require.NoError(t, err)
		require.Contains(t, b.awaitError(t, cron), "deactivated")

		// Webhook: correctly signed, refused.
		body := `{"who":"stripe"}`
		apitest.Scenario{Method: "POST", Path: "/api/v1/hooks/workflow-triggers/" + hook, Body: body,
			Headers:        map[string]string{"Pulse-Signature": webhook.Sign([]byte(secret), time.Now(), []byte(body))},
			ExpectedStatus: 409}.Test(t, b.H)
		require.Contains(t, b.trigger(t, hook).LastError, "deactivated")

		// Event.
		started, err := b.App.Workflows().Dispatch(ctx, b.alice.ID, "app.ping", nil, "")
		require.NoError(t, err)
		require.Empty(t, started)
		require.Contains(t, b.trigger(t, event).LastError, "deactivated")

		require.Equal(t, 0, b.runCount(t, wf), "nothing ran for the deactivated user")
	})
}

// Finding 10: what an expression may be is bounded when it is saved, at
// its path in the definition; the finding's own expression is allowed
// (it is stopped when it runs: graph's TestFinding10Expression* tests).
func TestFinding10ExpressionLimitsAreRefusedAtSave(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil, app.Options{})
		long := strings.Repeat("state.a + ", 600) + "1"
		def := func(set string) string {
			return `{"name":"flow","definition":{"entry":"a","nodes":[{"id":"a","type":"transform","set":{"x":` + set + `}}]}}`
		}
		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "too many nodes", Method: "POST", Path: "/api/v1/workflows", Auth: b.alice.Token, Body: def(`"` + long + `"`),
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.definition.nodes[0].set.x"}},
			{Name: "too long", Method: "POST", Path: "/api/v1/workflows", Auth: b.alice.Token, Body: def(`"state.a` + strings.Repeat(" ", 5000) + `"`),
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.definition.nodes[0].set.x"}},
			{Name: "the meter's names are reserved", Method: "POST", Path: "/api/v1/workflows", Auth: b.alice.Token, Body: def(`"__pulse_meter"`),
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.definition.nodes[0].set.x"}},
			{Name: "the finding's expression is saved", Method: "POST", Path: "/api/v1/workflows", Auth: b.alice.Token,
				Body: def(`"filter(state.a, any(state.a, any(state.a, # < 0)))"`), ExpectedStatus: 201},
		})
	})
}

// Finding 11, the loop no chain can follow: a run whose http node posts to
// Pulse's own /events. One event trigger starts at most EventFiringLimit's
// burst, plus what the rate refills while the test runs; then it refuses
// and says why.
func TestFinding11EventTriggerFiringsAreCapped(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil, app.Options{}) // queue not started: runs stay queued
		wf := b.create(t, noop)
		tr := b.addTrigger(t, wf, `{"type":"event","event":"app.again"}`)
		ctx := context.Background()
		limit := workflow.EventFiringLimit
		start, fired := time.Now(), 0
		for range 2 * limit.Burst {
			started, err := b.App.Workflows().Dispatch(ctx, b.alice.ID, "app.again", nil, "")
			require.NoError(t, err)
			if len(started) == 0 {
				break
			}
			fired++
		}
		refill := int(time.Since(start)/(limit.Period/time.Duration(limit.Rate))) + 1
		require.GreaterOrEqual(t, fired, limit.Burst, "the cap is not reached early")
		require.LessOrEqual(t, fired, limit.Burst+refill, "one more past the cap is refused")
		require.Contains(t, b.trigger(t, tr).LastError, "a loop through the API?")
		require.Equal(t, fired, b.runCount(t, wf))
	})
}
