package cli_test

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
)

// Two processes on one PostgreSQL: `pulse serve --role=api` and a
// PULSE_ROLE=worker process. A background agent run enqueued through the
// api process is executed by the worker. Each talks to its own fake model
// server, so the one the api process was given must hear nothing; the
// worker serves /healthz, /readyz and /metrics, and no API.
func TestRoleSplitAPIEnqueuesWorkerWorks(t *testing.T) {
	t.Parallel()
	url := dbtest.DatabaseURL(t, config.Postgres) // skips without PULSE_TEST_POSTGRES_URL
	answer := func(int, string, []byte) llmtest.Fault { return llmtest.Answer }
	apiModels, workerModels := llmtest.NewWire(answer), llmtest.NewWire(answer)
	defer apiModels.Close()
	defer workerModels.Close()
	env := func(models *llmtest.Wire, extra map[string]string) map[string]string {
		e := map[string]string{
			"PULSE_ADDR": "127.0.0.1:0", "PULSE_DATA_DIR": t.TempDir(), "DATABASE_URL": url,
			"PULSE_SECRET_KEY": "role-split-secret-0123456789abcdef0", "PULSE_TEST_REAL_PROVIDERS": "1",
			"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": models.URL + "/v1", "PULSE_OUTBOUND_ALLOW": "127.0.0.0/8",
		}
		for k, v := range extra {
			e[k] = v
		}
		return e
	}
	front := startChild(t, t.TempDir(), env(apiModels, nil), "serve", "--role=api")
	front.drain()
	back := startChild(t, t.TempDir(), env(workerModels, map[string]string{"PULSE_ROLE": "worker"}), "serve")
	back.drain()
	defer func() {
		if t.Failed() {
			t.Logf("api process:\n%s\nworker process:\n%s", front.logged(), back.logged())
		}
	}()
	require.NotContains(t, front.components, "queue", "the api process works no jobs")
	require.Contains(t, front.components, "http")
	require.Contains(t, back.components, "queue")
	require.NotContains(t, back.components, "realtime", "the worker serves no streams")

	a := signUp(t, front.base)
	var agent struct{ ID string }
	require.Equal(t, 201, a.do("POST", "/api/v1/agents", `{"name":"Greeter","instructions":"Greet.","model":"openai/gpt-test"}`, &agent))
	var r runView
	require.Equal(t, 202, a.do("POST", "/api/v1/agents/"+agent.ID+"/runs", `{"input":"hello","background":true}`, &r))
	require.Equal(t, "queued", r.Status)
	require.Eventually(t, func() bool {
		a.do("GET", "/api/v1/runs/"+r.ID, "", &r)
		return r.Status == "succeeded" || r.Status == "failed"
	}, 30*time.Second, 50*time.Millisecond, "run %+v", r)
	require.Equal(t, "succeeded", r.Status, "%+v", r)
	require.Equal(t, "Hello there.", r.Output)
	require.NotEmpty(t, workerModels.Faults(), "the worker executed the run")
	require.Empty(t, apiModels.Faults(), "the api process executed nothing")

	// The worker's listener: the operational endpoints, no API.
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200,
		"/api/v1/agents": 404, "/api/v1/runs/" + r.ID: 404, "/api/v1/meta": 404, "/openapi.json": 404} {
		status, body := getStatus(t, back.base+path)
		require.Equal(t, want, status, "worker %s: %s", path, body)
	}
	status, body := getStatus(t, front.base+"/readyz")
	require.Equal(t, http.StatusOK, status, "an api process is ready without working the queue: %s", body)

	for _, c := range []*child{front, back} {
		require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
		_ = c.cmd.Wait() // the exit status is read below
		require.Equal(t, 0, c.cmd.ProcessState.ExitCode())
	}
	for _, l := range strings.Split(front.logged()+back.logged(), "\n") {
		// River reports a periodic-job insert that its own stop cut short
		// as an error: the process stopping, not failing.
		if strings.Contains(l, `"level":"ERROR"`) && !strings.Contains(l, `"error":"context canceled"`) {
			t.Errorf("logged an error: %s", l)
		}
	}
}
