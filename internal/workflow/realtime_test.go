package workflow_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

// A workflow run's events reach the realtime endpoints like an agent
// run's, for its owner only.
func TestWorkflowRunEventsOnTheBus(t *testing.T) {
	t.Parallel()
	b := setup(t, config.SQLite, nil, app.Options{})
	require.NoError(t, b.App.StartQueue(context.Background()))
	srv := httptest.NewServer(b.H)
	t.Cleanup(srv.Close) // after the streams below are closed
	wf := b.create(t, branching)
	res := apitest.Scenario{Method: "POST", Path: "/api/v1/workflows/" + wf + "/runs", Auth: b.alice.Token, Body: `{"input":{"n":3},"background":true}`,
		ExpectedStatus: 202}.Test(t, b.H)
	id := gjson.Get(res.Body, "id").String()
	b.awaitRun(t, id, "succeeded")

	open := func(token string) *http.Response {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/v1/events?run_id="+id+"&last_event_id=0", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	require.Equal(t, 404, open(b.bob.Token).StatusCode)
	resp := open(b.alice.Token)
	require.Equal(t, 200, resp.StatusCode)
	var types []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			types = append(types, ev)
			if ev == "run.completed" {
				break
			}
		}
	}
	require.Equal(t, []string{"run.created", "node.started", "node.completed", "state.updated", "node.started", "node.completed", "state.updated",
		"node.started", "node.completed", "state.updated", "run.completed"}, types)
}
