package tool_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/app/apptest"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

type addIn struct {
	A int `json:"a" jsonschema:"first number"`
	B int `json:"b" jsonschema:"second number"`
}

// startMCP runs a real go-sdk MCP server over streamable HTTP that requires
// a bearer token, with two tools.
func startMCP(t *testing.T, calls *atomic.Int32) *httptest.Server {
	server := mcp.NewServer(&mcp.Implementation{Name: "calc", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "add", Description: "Add two numbers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, any, error) {
			calls.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(in.A + in.B)}}}, nil, nil
		})
	mcp.AddTool(server, &mcp.Tool{Name: "wipe", Description: "Dangerous."},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "wiped"}}}, nil, nil
		})
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer mcp-secret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestMCPTools(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		var calls atomic.Int32
		srv := startMCP(t, &calls)
		model := llmtest.New(llmtest.Call(llm.ToolCall{ID: "c1", Name: "add", Arguments: json.RawMessage(`{"a":2,"b":3}`)}), llmtest.Say("2 + 3 = 5"))
		b := apptest.New(t, e, map[string]string{"PULSE_OUTBOUND_ALLOW": "127.0.0.1/32"}, app.Options{Models: map[string]llm.Provider{"openai": model}})
		alice, bob := b.NewUser(t), b.NewUser(t)

		created := apitest.Scenario{Method: "POST", Path: "/api/v1/mcp-servers", Auth: alice.Token, ExpectedStatus: 201,
			Body: `{"name":"calc","url":"` + srv.URL + `","headers":{"Authorization":"Bearer mcp-secret"}}`, NotExpected: []string{"mcp-secret"}}.Test(t, b.H)
		serverID := decodeStr(t, created.Body, "id")
		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "listed without headers", Method: "GET", Path: "/api/v1/mcp-servers", Auth: alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 1, "items.0.name": "calc"}, NotExpected: []string{"mcp-secret"}},
			{Name: "others cannot use it", Method: "POST", Path: "/api/v1/agents", Auth: bob.Token, ExpectedStatus: 422,
				Body: `{"name":"x","instructions":"x","model":"openai/gpt-test","tools":[{"type":"mcp","server_id":"` + serverID + `"}]}`},
			{Name: "bad url", Method: "POST", Path: "/api/v1/mcp-servers", Auth: alice.Token, Body: `{"name":"x","url":"stdio://calc"}`, ExpectedStatus: 422},
		})

		agentID := decodeStr(t, apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: alice.Token, ExpectedStatus: 201,
			Body: `{"name":"Calc","instructions":"x","model":"openai/gpt-test","tools":[{"type":"mcp","server_id":"` + serverID + `","tools":["add"]}]}`}.Test(t, b.H).Body, "id")
		apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: alice.Token, Body: `{"input":"2+3?"}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "succeeded", "output": "2 + 3 = 5"}}.Test(t, b.H)
		require.EqualValues(t, 1, calls.Load(), "the MCP tool really ran")

		first := model.Calls()[0]
		require.Len(t, first.Tools, 1, "only the allowed tool is offered")
		require.Equal(t, "add", first.Tools[0].Name)
		require.Contains(t, string(first.Tools[0].Parameters), `"a"`)
		msgs := model.Calls()[1].Messages
		require.Equal(t, "5", msgs[len(msgs)-1].Content)
	})
}

// One MCP session serves the tool listing and the calls of a run, and the
// next run's; when the server forgets it (a restart), Pulse reconnects once.
func TestMCPSessionReuse(t *testing.T) {
	t.Parallel()
	var calls, sessions atomic.Int32
	var ids sync.Map // session IDs the client has used
	newHandler := func() http.Handler {
		server := mcp.NewServer(&mcp.Implementation{Name: "calc", Version: "1"}, nil)
		mcp.AddTool(server, &mcp.Tool{Name: "add", Description: "Add two numbers."},
			func(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, any, error) {
				calls.Add(1)
				return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(in.A + in.B)}}}, nil, nil
			})
		return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	}
	var current atomic.Pointer[http.Handler]
	h := newHandler()
	current.Store(&h)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sid := r.Header.Get("Mcp-Session-Id"); sid != "" {
			if _, seen := ids.LoadOrStore(sid, true); !seen {
				sessions.Add(1)
			}
		}
		(*current.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	add := llmtest.Call(llm.ToolCall{ID: "c1", Name: "add", Arguments: json.RawMessage(`{"a":2,"b":3}`)})
	model := llmtest.New(add, llmtest.Say("5"), add, llmtest.Say("5"), add, llmtest.Say("5"))
	b := apptest.New(t, config.SQLite, map[string]string{"PULSE_OUTBOUND_ALLOW": "127.0.0.1/32"}, app.Options{Models: map[string]llm.Provider{"openai": model}})
	u := b.NewUser(t)
	serverID := decodeStr(t, apitest.Scenario{Method: "POST", Path: "/api/v1/mcp-servers", Auth: u.Token, ExpectedStatus: 201,
		Body: `{"name":"calc","url":"` + srv.URL + `"}`}.Test(t, b.H).Body, "id")
	agentID := decodeStr(t, apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: u.Token, ExpectedStatus: 201,
		Body: `{"name":"Calc","instructions":"x","model":"openai/gpt-test","tools":[{"type":"mcp","server_id":"` + serverID + `"}]}`}.Test(t, b.H).Body, "id")
	runOnce := func() {
		apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: u.Token, Body: `{"input":"2+3?"}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "succeeded", "output": "5"}}.Test(t, b.H)
	}
	runOnce()
	runOnce()
	require.EqualValues(t, 2, calls.Load())
	require.EqualValues(t, 1, sessions.Load(), "two runs, one session")

	restarted := newHandler() // knows none of the old sessions
	current.Store(&restarted)
	runOnce()
	require.EqualValues(t, 3, calls.Load(), "the call went through on a new session")
	require.EqualValues(t, 2, sessions.Load())
}

// TestFinding13MCPDropsAuthHeadersOnCrossHostRedirect is issue 13 (smaller
// ones): the MCP client sends a server's configured headers (its credentials) to
// that server only: a redirect to another host gets none of them.
func TestFinding13MCPDropsAuthHeadersOnCrossHostRedirect(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	var mu sync.Mutex
	var leaked []string
	server := mcp.NewServer(&mcp.Implementation{Name: "calc", Version: "1"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: "add", Description: "Add two numbers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, any, error) {
			calls.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(in.A + in.B)}}}, nil, nil
		})
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	var hits atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		for _, h := range []string{"Authorization", "X-Server-Token"} {
			if v := r.Header.Get(h); v != "" {
				mu.Lock()
				leaked = append(leaked, h+": "+v)
				mu.Unlock()
			}
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(elsewhere.Close)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(origin.Close)

	model := llmtest.New(llmtest.Call(llm.ToolCall{ID: "c1", Name: "add", Arguments: json.RawMessage(`{"a":2,"b":3}`)}), llmtest.Say("5"))
	b := apptest.New(t, config.SQLite, map[string]string{"PULSE_OUTBOUND_ALLOW": "127.0.0.1/32"}, app.Options{Models: map[string]llm.Provider{"openai": model}})
	u := b.NewUser(t)
	serverID := decodeStr(t, apitest.Scenario{Method: "POST", Path: "/api/v1/mcp-servers", Auth: u.Token, ExpectedStatus: 201,
		Body: `{"name":"calc","url":"` + origin.URL + `/mcp","headers":{"Authorization":"Bearer mcp-secret","X-Server-Token":"tok"}}`}.Test(t, b.H).Body, "id")
	agentID := decodeStr(t, apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: u.Token, ExpectedStatus: 201,
		Body: `{"name":"Calc","instructions":"x","model":"openai/gpt-test","tools":[{"type":"mcp","server_id":"` + serverID + `"}]}`}.Test(t, b.H).Body, "id")
	apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: u.Token, Body: `{"input":"2+3?"}`,
		ExpectedStatus: 200}.Test(t, b.H)
	require.Positive(t, hits.Load(), "the redirect was followed")
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, leaked, "credentials crossed to another host")
}
