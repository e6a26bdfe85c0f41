package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
)

// slowModel is the child's model: every call takes delay, then asks for
// current_time, or answers once the tool has answered. It is stateless, so a
// run resumed by another process continues the same way.
type slowModel struct{ delay time.Duration }

func (m slowModel) Chat(ctx context.Context, req llm.Request) (*llm.Response, error) {
	select {
	case <-time.After(m.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if last := req.Messages[len(req.Messages)-1]; last.Role == llm.RoleTool {
		return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: "It is " + last.Content}, Usage: llm.Usage{InputTokens: 5, OutputTokens: 3}}, nil
	}
	return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "c1", Name: "current_time", Arguments: json.RawMessage(`{}`)}}},
		Usage: llm.Usage{InputTokens: 5, OutputTokens: 2}}, nil
}

func childModel() map[string]llm.Provider {
	d, _ := time.ParseDuration(os.Getenv("PULSE_TEST_MODEL_DELAY"))
	return map[string]llm.Provider{"openai": slowModel{delay: d}}
}

// api calls the child's API as a user.
type api struct {
	t     *testing.T
	base  string
	token string
}

func (a api) do(method, path, body string, out any) int {
	a.t.Helper()
	req, err := http.NewRequest(method, a.base+path, strings.NewReader(body))
	require.NoError(a.t, err)
	req.Header.Set("Content-Type", "application/json")
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		require.NoError(a.t, json.Unmarshal(b, out), string(b))
	}
	return res.StatusCode
}

func signUp(t *testing.T, base string) api {
	t.Helper()
	a := api{t: t, base: base}
	email := fmt.Sprintf("u%d@example.com", time.Now().UnixNano())
	require.Equal(t, 201, a.do("POST", "/api/v1/auth/register", `{"email":"`+email+`","password":"correct horse battery"}`, nil))
	res, err := http.PostForm(base+"/api/v1/auth/token", url.Values{"grant_type": {"password"}, "username": {email}, "password": {"correct horse battery"}})
	require.NoError(t, err)
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&tok))
	a.token = tok.AccessToken
	return a
}

type runView struct {
	ID      string `json:"id"`
	JobID   string `json:"job_id"`
	Status  string `json:"status"`
	Attempt int    `json:"attempt"`
	Output  string `json:"output"`
}

type stepsView struct {
	Items []struct {
		Seq  int    `json:"seq"`
		Kind string `json:"kind"`
	} `json:"items"`
}

// Background runs survive a SIGKILL: the restarted process resumes each
// from its last committed step, and every step is recorded exactly once.
func TestBackgroundRunsSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		env := map[string]string{
			"PULSE_ADDR": "127.0.0.1:0", "PULSE_DATA_DIR": t.TempDir(), "DATABASE_URL": dbtest.DatabaseURL(t, e),
			"PULSE_SECRET_KEY": "durable-test-secret-0123456789abcdef", "PULSE_RUN_LEASE": "2s", "PULSE_TEST_MODEL_DELAY": "600ms",
		}
		first := startChild(t, t.TempDir(), env, "serve")
		first.drain()
		a := signUp(t, first.base)
		var agent struct{ ID string }
		require.Equal(t, 201, a.do("POST", "/api/v1/agents", `{"name":"Clock","instructions":"Tell the time.","model":"openai/slow","tools":[{"type":"builtin","name":"current_time"}]}`, &agent))

		const n = 6
		ids := make([]string, n)
		for i := range ids {
			var r runView
			require.Equal(t, 202, a.do("POST", "/api/v1/agents/"+agent.ID+"/runs", `{"input":"What time is it?","background":true}`, &r))
			require.Equal(t, "queued", r.Status)
			require.Equal(t, r.ID, r.JobID)
			ids[i] = r.ID
		}
		// Kill it once some run has committed a step, before all are done.
		require.Eventually(t, func() bool {
			var s stepsView
			a.do("GET", "/api/v1/runs/"+ids[0]+"/steps", "", &s)
			return len(s.Items) >= 1
		}, 20*time.Second, 20*time.Millisecond)
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
		resumed := 0
		for _, id := range ids {
			var r runView
			require.Eventually(t, func() bool {
				a.do("GET", "/api/v1/runs/"+id, "", &r)
				return r.Status == "succeeded"
			}, 60*time.Second, 50*time.Millisecond, "run %s: %+v", id, r)
			require.True(t, strings.HasPrefix(r.Output, "It is {"), r.Output)
			if r.Attempt > 1 {
				resumed++
			}
			var s stepsView
			require.Equal(t, 200, a.do("GET", "/api/v1/runs/"+id+"/steps", "", &s))
			var kinds []string
			for i, st := range s.Items {
				require.Equal(t, i+1, st.Seq)
				kinds = append(kinds, st.Kind)
			}
			require.Equal(t, []string{"model", "tool", "model"}, kinds, "run %s: each step once", id)
		}
		require.Positive(t, resumed, "at least one run was taken over after the kill")
		require.NotContains(t, second.logged(), `"level":"ERROR"`)
	})
}

// drain keeps reading the child's log so it never blocks on a full pipe.
func (c *child) drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.draining {
		return
	}
	c.draining = true
	go func() {
		for l := range c.lines {
			c.mu.Lock()
			c.log.WriteString(l + "\n")
			c.mu.Unlock()
		}
	}()
}

func (c *child) logged() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

// Two processes on one PostgreSQL: a client streaming from the first sees
// a run the second executes, and a cancel sent to the first stops a run
// executing on the second.
// Events travel by PostgreSQL NOTIFY, or by Redis when it is configured.
func TestTwoProcessesShareEventsAndCancel(t *testing.T) {
	t.Parallel()
	t.Run("notify", func(t *testing.T) {
		t.Parallel()
		twoProcesses(t, "")
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		url := os.Getenv("PULSE_TEST_REDIS_URL")
		if url == "" {
			t.Skip("PULSE_TEST_REDIS_URL is not set")
		}
		twoProcesses(t, url)
	})
}

func twoProcesses(t *testing.T, redisURL string) {
	env := map[string]string{
		"PULSE_ADDR": "127.0.0.1:0", "PULSE_DATA_DIR": t.TempDir(), "DATABASE_URL": dbtest.DatabaseURL(t, config.Postgres),
		"PULSE_SECRET_KEY": "cluster-test-secret-0123456789abcdef", "PULSE_TEST_MODEL_DELAY": "700ms",
		"PULSE_OUTBOUND_ALLOW": "127.0.0.1/32", // the workflow's http node reaches a local server
	}
	if redisURL != "" {
		env["REDIS_URL"] = redisURL
		env["PULSE_REDIS_PREFIX"] = fmt.Sprintf("test:%d:", time.Now().UnixNano())
	}
	first := startChild(t, t.TempDir(), env, "serve")
	first.drain()
	second := startChild(t, t.TempDir(), env, "serve")
	second.drain()
	a := signUp(t, first.base)
	var agent struct{ ID string }
	require.Equal(t, 201, a.do("POST", "/api/v1/agents", `{"name":"Clock","instructions":"x","model":"openai/slow","tools":[{"type":"builtin","name":"current_time"}]}`, &agent))
	onSecond := a
	onSecond.base = second.base

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, first.base+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	events := make(chan [2]string, 256) // type, data
	go func() {
		sc := bufio.NewScanner(res.Body)
		var name string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				name = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				events <- [2]string{name, v}
			}
		}
		close(events)
	}()
	next := func(typ string) string {
		t.Helper()
		for {
			select {
			case ev, ok := <-events:
				require.True(t, ok, "stream ended")
				if ev[0] == typ {
					return ev[1]
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("no %s event", typ)
			}
		}
	}

	// A run executed by the second process (in its request).
	done := make(chan runView, 1)
	go func() {
		var r runView
		onSecond.do("POST", "/api/v1/agents/"+agent.ID+"/runs", `{"input":"time?"}`, &r)
		done <- r
	}()
	created := next("run.created")
	completed := next("run.completed")
	r := <-done
	require.Equal(t, "succeeded", r.Status)
	require.Equal(t, "run:"+r.ID, gjson.Get(created, "topic").String())
	require.Equal(t, "run:"+r.ID, gjson.Get(completed, "topic").String())

	// Cancel, sent to the first, stops a run executing on the second.
	go func() {
		var r runView
		onSecond.do("POST", "/api/v1/agents/"+agent.ID+"/runs", `{"input":"time?"}`, &r)
		done <- r
	}()
	id := strings.TrimPrefix(gjson.Get(next("run.created"), "topic").String(), "run:")
	var cancelled runView
	sent := time.Now()
	require.Equal(t, 200, a.do("POST", "/api/v1/runs/"+id+"/cancel", "", &cancelled))
	took := time.Since(sent)
	require.Equal(t, "cancelled", cancelled.Status)
	require.Less(t, took, time.Second, "stopped within a second")
	t.Logf("cancel across processes took %s", took)
	require.Equal(t, "cancelled", (<-done).Status, "the second process's caller sees it too")

	// The same for a workflow run: its events reach the first process's
	// stream, and a cancel sent there stops it on the second.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(30 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	var wf struct{ ID string }
	require.Equal(t, 201, a.do("POST", "/api/v1/workflows", `{"name":"slow","definition":{"entry":"wait","nodes":[
	  {"id":"wait","type":"http","url":"`+slow.URL+`","output_key":"r","timeout_seconds":60}]}}`, &wf))
	wfDone := make(chan runView, 1)
	go func() {
		var r runView
		onSecond.do("POST", "/api/v1/workflows/"+wf.ID+"/runs", `{}`, &r)
		wfDone <- r
	}()
	started := next("node.started")
	require.Equal(t, "wait", gjson.Get(started, "data.node").String(), started)
	wfID := strings.TrimPrefix(gjson.Get(started, "topic").String(), "run:")
	sent = time.Now()
	require.Equal(t, 200, a.do("POST", "/api/v1/workflow-runs/"+wfID+"/cancel", "", &cancelled))
	took = time.Since(sent)
	require.Equal(t, "cancelled", cancelled.Status)
	require.Less(t, took, time.Second, "stopped within a second")
	t.Logf("workflow cancel across processes took %s", took)
	require.Equal(t, "cancelled", (<-wfDone).Status)
}

// At SIGTERM, open realtime connections are told to reconnect elsewhere
// (an SSE "shutdown" event, a WebSocket close 1001) instead of holding the
// shutdown until its timeout.
func TestShutdownDrainsRealtime(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PULSE_ADDR": "127.0.0.1:0", "PULSE_DATA_DIR": t.TempDir(),
		"PULSE_SECRET_KEY": "drain-test-secret-0123456789abcdef01", "PULSE_SHUTDOWN_TIMEOUT": "20s"}
	c := startChild(t, t.TempDir(), env, "serve")
	c.drain()
	a := signUp(t, c.base)

	req, _ := http.NewRequest(http.MethodGet, c.base+"/api/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, 200, res.StatusCode)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(c.base, "http")+"/api/v1/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + a.token}}})
	require.NoError(t, err)
	defer ws.CloseNow()
	wsClosed := make(chan error, 1)
	go func() {
		_, _, err := ws.Read(ctx)
		wsClosed <- err
	}()

	sent := time.Now()
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	body, _ := io.ReadAll(res.Body) // ends when the server closes the stream
	require.Contains(t, string(body), "event: shutdown")
	require.Contains(t, string(body), "retry: 1000")
	require.Equal(t, websocket.StatusGoingAway, websocket.CloseStatus(<-wsClosed))
	require.NoError(t, c.cmd.Wait())
	require.Less(t, time.Since(sent), 10*time.Second, "the streams did not hold the shutdown until its timeout")
}
