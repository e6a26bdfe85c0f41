package workflow_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
	"github.com/pulse-run/pulse/internal/platform/webhook"
)

// Finding 3: the same signed call sent twice within the tolerance window
// started two runs. Now the second answers 409 webhook_replayed and starts
// nothing, also when identical calls race.
func TestFinding3WebhookReplayStartsNoRun(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil, app.Options{})
		wf := b.create(t, echo)
		res := apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + wf + "/triggers", Auth: b.alice.Token,
			Body: `{"type":"webhook"}`, ExpectedStatus: 201}.Test(t, b.H)
		id, secret := gjson.Get(res.Body, "id").String(), gjson.Get(res.Body, "secret").String()
		hook := "/api/v1/hooks/workflow-triggers/" + id
		runs := func() int64 {
			list := apitest.Scenario{Method: "GET", Path: "/api/v1/workflows/" + wf + "/runs", Auth: b.alice.Token, ExpectedStatus: 200}.Test(t, b.H)
			return gjson.Get(list.Body, "items.#").Int()
		}

		body := `{"who":"once"}`
		signed := map[string]string{"Pulse-Signature": webhook.Sign([]byte(secret), time.Now(), []byte(body))}
		apitest.Scenario{Method: "POST", Path: hook, Body: body, Headers: signed, ExpectedStatus: 202}.Test(t, b.H)
		apitest.Scenario{Method: "POST", Path: hook, Body: body, Headers: signed, ExpectedStatus: 409,
			ExpectedJSON:    map[string]any{"code": "webhook_replayed"},
			ExpectedHeaders: map[string]string{"Content-Type": "application/problem+json"}}.Test(t, b.H)
		require.Equal(t, int64(1), runs(), "the replay started no run")

		// A call refused for the trigger's state does not use its signature up.
		later := `{"who":"later"}`
		signedLater := map[string]string{"Pulse-Signature": webhook.Sign([]byte(secret), time.Now(), []byte(later))}
		apitest.Scenario{Method: "PATCH", Path: "/api/v1/workflow-triggers/" + id, Auth: b.alice.Token, Body: `{"enabled":false}`, ExpectedStatus: 200}.Test(t, b.H)
		apitest.Scenario{Method: "POST", Path: hook, Body: later, Headers: signedLater, ExpectedStatus: 409,
			ExpectedJSON: map[string]any{"code": "conflict"}}.Test(t, b.H)
		apitest.Scenario{Method: "PATCH", Path: "/api/v1/workflow-triggers/" + id, Auth: b.alice.Token, Body: `{"enabled":true}`, ExpectedStatus: 200}.Test(t, b.H)
		apitest.Scenario{Method: "POST", Path: hook, Body: later, Headers: signedLater, ExpectedStatus: 202}.Test(t, b.H)
		require.Equal(t, int64(2), runs())

		// Identical calls at once: exactly one is accepted.
		raced := `{"who":"raced"}`
		sig := webhook.Sign([]byte(secret), time.Now(), []byte(raced))
		const n = 8
		codes := make(chan int, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, hook, strings.NewReader(raced))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Pulse-Signature", sig)
				rec := httptest.NewRecorder()
				b.H.ServeHTTP(rec, req)
				codes <- rec.Code
			}()
		}
		close(start)
		wg.Wait()
		close(codes)
		got := map[int]int{}
		for c := range codes {
			got[c]++
		}
		require.Equal(t, map[int]int{202: 1, 409: n - 1}, got)
		require.Equal(t, int64(3), runs(), "one run for the raced calls")
	})
}
