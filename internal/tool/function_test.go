package tool_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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
	"github.com/pulse-run/pulse/internal/tool"
)

// webhook records signed calls and answers as told.
type webhook struct {
	mu     sync.Mutex
	calls  []*http.Request
	bodies []string
	status []int // answer these statuses in turn, then 200
	srv    *httptest.Server
}

func startWebhook(t *testing.T) *webhook {
	w := &webhook{}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.calls = append(w.calls, r)
		w.bodies = append(w.bodies, string(b))
		i := len(w.calls) - 1
		w.mu.Unlock()
		if i < len(w.status) {
			rw.WriteHeader(w.status[i])
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(rw, `{"temperature_c":21}`)
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func decodeStr(t *testing.T, body, path string) string {
	t.Helper()
	v := gjson.Get(body, path)
	require.True(t, v.Exists(), "%s in %s", path, body)
	return v.String()
}

func TestFunctionTools(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		hook := startWebhook(t)
		model := llmtest.New(llmtest.Call(llm.ToolCall{ID: "c1", Name: "weather", Arguments: json.RawMessage(`{"city":"Paris"}`)}), llmtest.Say("21 degrees."))
		b := apptest.New(t, e, map[string]string{"PULSE_OUTBOUND_ALLOW": "127.0.0.1/32"}, app.Options{Models: map[string]llm.Provider{"openai": model}})
		alice, bob := b.NewUser(t), b.NewUser(t)

		created := apitest.Scenario{Method: "POST", Path: "/api/v1/tools", Auth: alice.Token, ExpectedStatus: 201,
			Body: `{"name":"weather","description":"Current weather in a city.","url":"` + hook.srv.URL + `/hook","timeout_seconds":2,
				"parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}`}.Test(t, b.H)
		toolID, secret := decodeStr(t, created.Body, "id"), decodeStr(t, created.Body, "secret")
		require.True(t, strings.HasPrefix(secret, "whsec_"))

		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "listed without its secret", Method: "GET", Path: "/api/v1/tools", Auth: alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"functions.#": 1, "functions.0.name": "weather"}, NotExpected: []string{secret}},
			{Name: "not listed for others", Method: "GET", Path: "/api/v1/tools", Auth: bob.Token, ExpectedStatus: 200, ExpectedJSON: map[string]any{"functions.#": 0}},
			{Name: "duplicate name", Method: "POST", Path: "/api/v1/tools", Auth: alice.Token, ExpectedStatus: 409,
				Body: `{"name":"weather","description":"x","url":"https://example.com/"}`},
			{Name: "bad name", Method: "POST", Path: "/api/v1/tools", Auth: alice.Token, ExpectedStatus: 422, Body: `{"name":"Weather Now","description":"x","url":"https://example.com/"}`},
			{Name: "schema not an object", Method: "POST", Path: "/api/v1/tools", Auth: alice.Token, ExpectedStatus: 422,
				Body: `{"name":"w2","description":"x","url":"https://example.com/","parameters":{"type":"string"}}`},
			{Name: "bad url", Method: "POST", Path: "/api/v1/tools", Auth: alice.Token, ExpectedStatus: 422, Body: `{"name":"w3","description":"x","url":"ftp://example.com/"}`},
			{Name: "others cannot delete it", Method: "DELETE", Path: "/api/v1/tools/" + toolID, Auth: bob.Token, ExpectedStatus: 404},
			{Name: "others cannot use it", Method: "POST", Path: "/api/v1/agents", Auth: bob.Token, ExpectedStatus: 422,
				Body: `{"name":"x","instructions":"x","model":"openai/gpt-test","tools":[{"type":"function","id":"` + toolID + `"}]}`},
		})

		agentID := decodeStr(t, apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: alice.Token, ExpectedStatus: 201,
			Body: `{"name":"Weather","instructions":"x","model":"openai/gpt-test","tools":[{"type":"function","id":"` + toolID + `"}]}`}.Test(t, b.H).Body, "id")
		run := apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: alice.Token, Body: `{"input":"Weather in Paris?"}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "succeeded", "output": "21 degrees."}}.Test(t, b.H)
		runID := decodeStr(t, run.Body, "id")

		hook.mu.Lock()
		require.Len(t, hook.calls, 1)
		req, body := hook.calls[0], hook.bodies[0]
		hook.mu.Unlock()
		require.Equal(t, runID+":2", req.Header.Get("Idempotency-Key"), "run id and step number")
		require.Equal(t, "Paris", gjson.Get(body, "arguments.city").String())
		// The receiver can check the signature with its secret.
		sig := req.Header.Get("X-Pulse-Signature")
		ts := strings.TrimPrefix(strings.Split(sig, ",")[0], "t=")
		unix, err := parseUnix(ts)
		require.NoError(t, err)
		require.Equal(t, tool.Sign(secret, unix, []byte(body)), sig)
		require.NotEqual(t, tool.Sign("whsec_wrong", unix, []byte(body)), sig)

		msgs := model.Calls()[1].Messages
		require.Equal(t, `{"temperature_c":21}`, msgs[len(msgs)-1].Content)
	})
}

func parseUnix(s string) (time.Time, error) {
	var n int64
	if err := json.Unmarshal([]byte(s), &n); err != nil {
		return time.Time{}, err
	}
	return time.Unix(n, 0), nil
}

// A failing webhook is retried with the same key, then its error goes to
// the model; and by default only public addresses are reachable.
func TestFunctionToolFailures(t *testing.T) {
	t.Parallel()
	hook := startWebhook(t)
	hook.status = []int{500, 502, 503}
	model := llmtest.New(llmtest.Call(llm.ToolCall{ID: "c1", Name: "flaky", Arguments: json.RawMessage(`{}`)}), llmtest.Say("It failed."))
	b := apptest.New(t, config.SQLite, map[string]string{"PULSE_OUTBOUND_ALLOW": "127.0.0.1/32"}, app.Options{Models: map[string]llm.Provider{"openai": model}})
	u := b.NewUser(t)
	toolID := decodeStr(t, apitest.Scenario{Method: "POST", Path: "/api/v1/tools", Auth: u.Token, ExpectedStatus: 201,
		Body: `{"name":"flaky","description":"x","url":"` + hook.srv.URL + `","timeout_seconds":1}`}.Test(t, b.H).Body, "id")
	agentID := decodeStr(t, apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: u.Token, ExpectedStatus: 201,
		Body: `{"name":"F","instructions":"x","model":"openai/gpt-test","tools":[{"type":"function","id":"` + toolID + `"}]}`}.Test(t, b.H).Body, "id")
	run := apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: u.Token, Body: `{"input":"go"}`,
		ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "succeeded"}}.Test(t, b.H)
	hook.mu.Lock()
	require.Len(t, hook.calls, 3, "retried")
	require.Equal(t, hook.calls[0].Header.Get("Idempotency-Key"), hook.calls[2].Header.Get("Idempotency-Key"), "with the same key")
	hook.mu.Unlock()
	apitest.Scenario{Method: "GET", Path: "/api/v1/runs/" + decodeStr(t, run.Body, "id") + "/steps", Auth: u.Token, ExpectedStatus: 200,
		ExpectedJSON: map[string]any{"items.1.status": "failed", "items.1.error": "the tool's webhook answered 503"}}.Test(t, b.H)

	// Without the allow-list the same loopback webhook is refused when
	// saved, at its field.
	strict := apptest.New(t, config.SQLite, nil, app.Options{Models: map[string]llm.Provider{"openai": model}})
	su := strict.NewUser(t)
	apitest.Scenario{Method: "POST", Path: "/api/v1/tools", Auth: su.Token, ExpectedStatus: 422,
		Body:            `{"name":"local","description":"x","url":"` + hook.srv.URL + `"}`,
		ExpectedJSON:    map[string]any{"errors.0.location": "body.url"},
		ExpectedContent: []string{"public address"}}.Test(t, strict.H)
}

// A webhook that never answers times out on every attempt; the model is
// told and the run goes on.
func TestHangingWebhookTimesOut(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int32
	stop := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		select { // net/http only notices a closed connection once the body is read, so end it ourselves too
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer hang.Close()
	defer close(stop)
	model := llmtest.New(llmtest.Call(llm.ToolCall{ID: "c1", Name: "slow", Arguments: json.RawMessage(`{}`)}), llmtest.Say("It timed out."))
	b := apptest.New(t, config.SQLite, map[string]string{"PULSE_OUTBOUND_ALLOW": "127.0.0.1/32"}, app.Options{Models: map[string]llm.Provider{"openai": model}})
	u := b.NewUser(t)
	toolID := decodeStr(t, apitest.Scenario{Method: "POST", Path: "/api/v1/tools", Auth: u.Token, ExpectedStatus: 201,
		Body: `{"name":"slow","description":"x","url":"` + hang.URL + `","timeout_seconds":1}`}.Test(t, b.H).Body, "id")
	agentID := decodeStr(t, apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: u.Token, ExpectedStatus: 201,
		Body: `{"name":"S","instructions":"x","model":"openai/gpt-test","tools":[{"type":"function","id":"` + toolID + `"}]}`}.Test(t, b.H).Body, "id")
	start := time.Now()
	run := apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: u.Token, Body: `{"input":"go"}`,
		ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "succeeded", "output": "It timed out."}}.Test(t, b.H)
	require.Less(t, time.Since(start), 15*time.Second, "bounded by the timeout, not by the webhook")
	require.EqualValues(t, 3, attempts.Load(), "retried")
	apitest.Scenario{Method: "GET", Path: "/api/v1/runs/" + decodeStr(t, run.Body, "id") + "/steps", Auth: u.Token, ExpectedStatus: 200,
		ExpectedJSON: map[string]any{"items.1.status": "failed"}, ExpectedContent: []string{"did not answer"}}.Test(t, b.H)
}
