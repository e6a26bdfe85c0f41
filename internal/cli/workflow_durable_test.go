package cli_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
)

// counter is an external service that counts the calls it gets, per path;
// paths under /slow/ take a while.
type counter struct {
	mu    sync.Mutex
	calls map[string]int
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.calls[r.URL.Path]++
	c.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/slow/") {
		select {
		case <-time.After(1500 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"ok":true}`))
}

func (c *counter) count(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[path]
}

type wfRunView struct {
	Status  string `json:"status"`
	Attempt int    `json:"attempt"`
	Step    int    `json:"step"`
}

type wfStepsView struct {
	Items []wfStepView `json:"items"`
}

type wfStepView struct {
	Node   string `json:"node"`
	Status string `json:"status"`
}

// A workflow run killed mid-super-step resumes in a new process from its
// last checkpoint and reuses the node that had finished in the unfinished
// super-step: no completed node runs twice.
func TestWorkflowRunsSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		svc := &counter{calls: map[string]int{}}
		srv := httptest.NewServer(svc)
		defer srv.Close()
		env := map[string]string{
			"PULSE_ADDR": "127.0.0.1:0", "PULSE_DATA_DIR": t.TempDir(), "DATABASE_URL": dbtest.DatabaseURL(t, e),
			"PULSE_SECRET_KEY": "durable-test-secret-0123456789abcdef", "PULSE_RUN_LEASE": "2s",
			"PULSE_OUTBOUND_ALLOW": "127.0.0.1/32",
		}
		first := startChild(t, t.TempDir(), env, "serve")
		first.drain()
		a := signUp(t, first.base)
		var wf struct{ ID string }
		require.Equal(t, 201, a.do("POST", "/api/v1/workflows", `{"name":"fan","definition":{
		  "entry":"start","nodes":[
		    {"id":"start","type":"http","url":"`+srv.URL+`/start/{{ state.k }}","output_key":"s"},
		    {"id":"fan","type":"parallel","branches":["fast","slow"],"join":"join"},
		    {"id":"fast","type":"http","url":"`+srv.URL+`/fast/{{ state.k }}","output_key":"f"},
		    {"id":"slow","type":"http","url":"`+srv.URL+`/slow/{{ state.k }}","output_key":"w"},
		    {"id":"join","type":"http","url":"`+srv.URL+`/join/{{ state.k }}","output_key":"j"}],
		  "edges":[{"from":"start","to":"fan"},{"from":"fast","to":"join"},{"from":"slow","to":"join"}]}}`, &wf))

		keys := []string{"k1", "k2", "k3"}
		ids := map[string]string{}
		for _, k := range keys {
			var r struct{ ID, Status string }
			require.Equal(t, 202, a.do("POST", "/api/v1/workflows/"+wf.ID+"/runs", `{"background":true,"input":{"k":"`+k+`"}}`, &r))
			ids[k] = r.ID
		}
		// Kill while every run waits on its slow branch, after its fast
		// branch finished.
		require.Eventually(t, func() bool {
			for _, k := range keys {
				if svc.count("/slow/"+k) == 0 || svc.count("/fast/"+k) == 0 {
					return false
				}
			}
			return true
		}, 20*time.Second, 10*time.Millisecond)
		// ...and its fast node's record is committed (node records are
		// stored as each node finishes, before its super-step ends).
		require.Eventually(t, func() bool {
			for _, k := range keys {
				var s wfStepsView
				if a.do("GET", "/api/v1/workflow-runs/"+ids[k]+"/steps", "", &s) != 200 {
					return false
				}
				if !slices.Contains(s.Items, wfStepView{Node: "fast", Status: "succeeded"}) {
					return false
				}
			}
			return true
		}, 20*time.Second, 10*time.Millisecond, "the fast nodes' records were committed")
		require.NoError(t, first.cmd.Process.Kill())
		_ = first.cmd.Wait()

		second := startChild(t, t.TempDir(), env, "serve")
		second.drain()
		defer func() {
			if t.Failed() {
				t.Log(second.logged())
			}
		}()
		a.base = second.base
		for _, k := range keys {
			var r wfRunView
			require.Eventually(t, func() bool {
				a.do("GET", "/api/v1/workflow-runs/"+ids[k], "", &r)
				return r.Status == "succeeded"
			}, 60*time.Second, 50*time.Millisecond, "run %s: %+v", ids[k], r)
			require.Equal(t, 4, r.Step)
			require.Greater(t, r.Attempt, 1, "taken over after the kill")
			require.Equal(t, 1, svc.count("/start/"+k), "start ran once")
			require.Equal(t, 1, svc.count("/fast/"+k), "the finished branch was not run again")
			require.Equal(t, 2, svc.count("/slow/"+k), "the interrupted branch ran again")
			require.Equal(t, 1, svc.count("/join/"+k), "the join ran once")
			var s wfStepsView
			require.Equal(t, 200, a.do("GET", "/api/v1/workflow-runs/"+ids[k]+"/steps", "", &s))
			var nodes []string
			for _, st := range s.Items {
				require.Equal(t, "succeeded", st.Status)
				nodes = append(nodes, st.Node)
			}
			require.ElementsMatch(t, []string{"start", "fan", "fast", "slow", "join"}, nodes, "each node recorded once")
		}
		require.NotContains(t, second.logged(), `"level":"ERROR"`)
	})
}
