package realtime_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/app/apptest"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

type testBundle struct {
	*apptest.Bundle
	srv *httptest.Server
}

func setup(t *testing.T, e config.Engine, env map[string]string) *testBundle {
	t.Helper()
	// The model repeats: a tool call, then an answer, for every run.
	alternate := llmtest.New(func(req llm.Request) (*llm.Response, error) {
		if req.Messages[len(req.Messages)-1].Role == llm.RoleTool {
			return llmtest.Say("Noon.")(req)
		}
		return llmtest.Call(llm.ToolCall{ID: "c1", Name: "current_time", Arguments: json.RawMessage(`{}`)})(req)
	})
	b := apptest.New(t, e, env, app.Options{Models: map[string]llm.Provider{"openai": alternate}})
	srv := httptest.NewServer(b.H)
	t.Cleanup(srv.Close)
	return &testBundle{Bundle: b, srv: srv}
}

func (b *testBundle) agent(t *testing.T, token string) string {
	t.Helper()
	res := apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: token, ExpectedStatus: 201,
		Body: `{"name":"Clock","instructions":"x","model":"openai/gpt-test","tools":[{"type":"builtin","name":"current_time"}]}`}.Test(t, b.H)
	return gjson.Get(res.Body, "id").String()
}

func (b *testBundle) run(t *testing.T, token, agentID string) string {
	t.Helper()
	res := apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: token, Body: `{"input":"time?"}`,
		ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "succeeded"}}.Test(t, b.H)
	return gjson.Get(res.Body, "id").String()
}

// stream is an open SSE connection.
type stream struct {
	res *http.Response
	rd  *bufio.Reader
}

type sseEvent struct{ id, name, data string }

func (b *testBundle) open(t *testing.T, path, token string, header map[string]string) (*http.Response, *stream) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.srv.URL+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	return res, &stream{res: res, rd: bufio.NewReader(res.Body)}
}

// next reads one event (skipping comments), failing after 5 s.
func (s *stream) next(t *testing.T) sseEvent {
	t.Helper()
	got := make(chan sseEvent, 1)
	go func() {
		var ev sseEvent
		for {
			line, err := s.rd.ReadString('\n')
			if err != nil {
				close(got)
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == "" && ev.name != "":
				got <- ev
				return
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	select {
	case ev, ok := <-got:
		require.True(t, ok, "stream ended")
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
		return sseEvent{}
	}
}

// until reads events until one named name arrives, returning all read.
func (s *stream) until(t *testing.T, name string) []sseEvent {
	t.Helper()
	var out []sseEvent
	for {
		ev := s.next(t)
		out = append(out, ev)
		if ev.name == name {
			return out
		}
	}
}

func TestEventsStreamAndReplay(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		alice, bob := b.NewUser(t), b.NewUser(t)
		agentID := b.agent(t, alice.Token)
		res, s := b.open(t, "/api/v1/events", alice.Token, nil)
		require.Equal(t, 200, res.StatusCode)
		require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))

		// Bob's activity never reaches Alice.
		b.run(t, bob.Token, b.agent(t, bob.Token))
		first := b.run(t, alice.Token, agentID)
		evs := s.until(t, "run.completed")
		require.Equal(t, "run.created", evs[0].name)
		sawDelta := false
		for _, ev := range evs {
			if ev.name == "message.delta" {
				require.Empty(t, ev.id, "token deltas are live only")
				sawDelta = true
			} else {
				require.NotEmpty(t, ev.id, "durable events carry ids: %s", ev.name)
			}
			require.Equal(t, "run:"+first, gjson.Get(ev.data, "topic").String(), "only Alice's run")
		}
		require.True(t, sawDelta)
		require.Equal(t, "succeeded", gjson.Get(evs[len(evs)-1].data, "data.status").String())
		lastSeen := evs[len(evs)-1].id
		res.Body.Close()

		// While she is away a second run happens; reconnecting with
		// Last-Event-ID replays exactly what she missed.
		second := b.run(t, alice.Token, agentID)
		_, again := b.open(t, "/api/v1/events", alice.Token, map[string]string{"Last-Event-ID": lastSeen})
		missed := again.until(t, "run.completed")
		require.Equal(t, "run.created", missed[0].name)
		for _, ev := range missed {
			require.Equal(t, "run:"+second, gjson.Get(ev.data, "topic").String())
			require.NotEqual(t, "message.delta", ev.name, "deltas are not replayed")
		}

		// One run only.
		_, one := b.open(t, "/api/v1/events?run_id="+first+"&last_event_id=0", alice.Token, nil)
		only := one.until(t, "run.completed")
		require.Equal(t, "run.created", only[0].name)
		require.Equal(t, "run:"+first, gjson.Get(only[len(only)-1].data, "topic").String())
	})
}

func TestEventsAuthorisation(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		alice, bob := b.NewUser(t), b.NewUser(t)
		bobsRun := b.run(t, bob.Token, b.agent(t, bob.Token))
		ticket := func(token string) string {
			res := apitest.Scenario{Method: "POST", Path: "/api/v1/realtime/tickets", Auth: token, ExpectedStatus: 201}.Test(t, b.H)
			require.NotEmpty(t, gjson.Get(res.Body, "expires_at").String())
			return gjson.Get(res.Body, "ticket").String()
		}
		for _, sc := range []apitest.Scenario{
			{Name: "no credential", Method: "GET", Path: "/api/v1/events", ExpectedStatus: 401},
			{Name: "ticket needs a session", Method: "POST", Path: "/api/v1/realtime/tickets", ExpectedStatus: 401},
			{Name: "made-up ticket", Method: "GET", Path: "/api/v1/events?ticket=abc", ExpectedStatus: 401, ExpectedContent: []string{"ticket"}},
			{Name: "another user's run", Method: "GET", Path: "/api/v1/events?run_id=" + bobsRun, Auth: alice.Token, ExpectedStatus: 404},
			{Name: "another user's run by websocket", Method: "GET", Path: "/api/v1/ws?run_id=" + bobsRun, Auth: alice.Token, ExpectedStatus: 404},
		} {
			sc.Test(t, b.H)
		}

		// A ticket works once.
		tk := ticket(alice.Token)
		res, _ := b.open(t, "/api/v1/events?ticket="+tk, "", nil)
		require.Equal(t, 200, res.StatusCode)
		res.Body.Close()
		reused, _ := b.open(t, "/api/v1/events?ticket="+tk, "", nil)
		require.Equal(t, 401, reused.StatusCode)
		require.Equal(t, "application/problem+json", reused.Header.Get("Content-Type"))

		// An expired ticket is refused (its expiry moved into the past).
		old := ticket(alice.Token)
		_, err := b.App.DB().W.NewUpdate().Table("pulse_kv").Set("expires_at = ?", time.Now().Add(-time.Second).UTC()).
			Where("namespace = 'realtime_ticket'").Exec(context.Background())
		require.NoError(t, err)
		expired, _ := b.open(t, "/api/v1/events?ticket="+old, "", nil)
		require.Equal(t, 401, expired.StatusCode)
	})
}

func TestConnectionCap(t *testing.T) {
	t.Parallel()
	b := setup(t, config.SQLite, map[string]string{"PULSE_REALTIME_MAX_CONNECTIONS": "2"})
	u := b.NewUser(t)
	r1, _ := b.open(t, "/api/v1/events", u.Token, nil)
	r2, _ := b.open(t, "/api/v1/events", u.Token, nil)
	require.Equal(t, 200, r1.StatusCode)
	require.Equal(t, 200, r2.StatusCode)
	r3, _ := b.open(t, "/api/v1/events", u.Token, nil)
	require.Equal(t, 429, r3.StatusCode)
	// Closing one frees its slot.
	r1.Body.Close()
	require.Eventually(t, func() bool {
		r, _ := b.open(t, "/api/v1/events", u.Token, nil)
		defer r.Body.Close()
		return r.StatusCode == 200
	}, 5*time.Second, 50*time.Millisecond)
}

func TestWebSocket(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		alice, bob := b.NewUser(t), b.NewUser(t)
		agentID := b.agent(t, alice.Token)
		bobsRun := b.run(t, bob.Token, b.agent(t, bob.Token))
		res := apitest.Scenario{Method: "POST", Path: "/api/v1/realtime/tickets", Auth: alice.Token, ExpectedStatus: 201}.Test(t, b.H)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		wsURL := "ws" + strings.TrimPrefix(b.srv.URL, "http") + "/api/v1/ws?ticket=" + gjson.Get(res.Body, "ticket").String()
		c, _, err := websocket.Dial(ctx, wsURL, nil)
		require.NoError(t, err)
		defer c.CloseNow()
		read := func() string {
			_, data, err := c.Read(ctx)
			require.NoError(t, err)
			return string(data)
		}
		send := func(v string) { require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(v))) }

		send(`{"type":"subscribe","run_id":"` + bobsRun + `"}`)
		reply := read()
		require.Equal(t, "error", gjson.Get(reply, "type").String(), reply)
		require.Equal(t, "run not found", gjson.Get(reply, "error").String())
		send(`not json`)
		require.Equal(t, "error", gjson.Get(read(), "type").String())

		runID := b.run(t, alice.Token, agentID)
		var types []string
		for {
			m := read()
			require.Equal(t, "run:"+runID, gjson.Get(m, "topic").String(), m)
			types = append(types, gjson.Get(m, "type").String())
			if gjson.Get(m, "type").String() == "run.completed" {
				require.Equal(t, "Noon.", gjson.Get(m, "data.output").String())
				break
			}
		}
		require.Equal(t, "run.created", types[0])
		require.Contains(t, types, "tool.result")
		require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
	})
}

// A client that stops reading is cut off (its slot freed) while another
// client of the same user keeps receiving: 1,000 events of 16 KiB.
func TestSlowReaderIsDisconnected(t *testing.T) {
	t.Parallel()
	b := setup(t, config.SQLite, map[string]string{"PULSE_REALTIME_MAX_CONNECTIONS": "2"})
	u := b.NewUser(t)
	stalled, _ := b.open(t, "/api/v1/events", u.Token, nil) // never read
	require.Equal(t, 200, stalled.StatusCode)
	_, reader := b.open(t, "/api/v1/events", u.Token, nil)
	got := make(chan int, 1)
	go func() {
		n := 0
		for {
			line, err := reader.rd.ReadString('\n')
			if err != nil {
				got <- n
				return
			}
			if strings.HasPrefix(line, "event: big") {
				if n++; n == 1000 {
					got <- n
					return
				}
			}
		}
	}()
	// 16 MB in all: more than the stalled socket's buffers hold, at a pace
	// a reading client keeps up with.
	big := json.RawMessage(`"` + strings.Repeat("x", 16<<10) + `"`)
	for range 1000 {
		_, err := b.App.Bus().Publish(context.Background(), events.Event{Topic: "user-test", UserID: u.ID, Type: "big", Data: big})
		require.NoError(t, err)
		time.Sleep(3 * time.Millisecond)
	}
	select {
	case n := <-got:
		require.Equal(t, 1000, n, "the reading client got everything")
	case <-time.After(20 * time.Second):
		t.Fatal("the reading client was held up")
	}
	// The stalled one lost its place: a new connection fits under the cap.
	require.Eventually(t, func() bool {
		r, _ := b.open(t, "/api/v1/events", u.Token, nil)
		defer r.Body.Close()
		return r.StatusCode == 200
	}, 20*time.Second, 200*time.Millisecond)
}
