package tool_test

import (
	"encoding/json"
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/app/apptest"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

// TestFinding13ToolErrorsHideResolvedAddresses is issue 13 (smaller ones):
// a tool's error never shows the address its host resolved to
// ("dial tcp 127.0.0.1:PORT: connect: connection refused" would map the
// inside); it names the host the user gave.
func TestFinding13ToolErrorsHideResolvedAddresses(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close()) // nothing listens: the call is refused by the kernel

	model := llmtest.New(llmtest.Call(llm.ToolCall{ID: "c1", Name: "down", Arguments: json.RawMessage(`{}`)}), llmtest.Say("it failed"))
	b := apptest.New(t, config.SQLite, map[string]string{"PULSE_OUTBOUND_ALLOW": "localhost"}, app.Options{Models: map[string]llm.Provider{"openai": model}})
	u := b.NewUser(t)
	toolID := decodeStr(t, apitest.Scenario{Method: "POST", Path: "/api/v1/tools", Auth: u.Token, ExpectedStatus: 201,
		Body: fmt.Sprintf(`{"name":"down","description":"x","url":"http://localhost:%d/hook","timeout_seconds":1}`, port)}.Test(t, b.H).Body, "id")
	agentID := decodeStr(t, apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: u.Token, ExpectedStatus: 201,
		Body: `{"name":"D","instructions":"x","model":"openai/gpt-test","tools":[{"type":"function","id":"` + toolID + `"}]}`}.Test(t, b.H).Body, "id")
	run := apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agentID + "/runs", Auth: u.Token, Body: `{"input":"go"}`,
		ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "succeeded"}}.Test(t, b.H)
	steps := apitest.Scenario{Method: "GET", Path: "/api/v1/runs/" + decodeStr(t, run.Body, "id") + "/steps", Auth: u.Token,
		ExpectedStatus: 200, ExpectedJSON: map[string]any{"items.1.status": "failed"}}.Test(t, b.H).Body
	msg := gjson.Get(steps, "items.1.error").String()
	require.Contains(t, msg, fmt.Sprintf("localhost:%d", port), msg)
	require.Contains(t, msg, "connection refused", msg)
	require.NotContains(t, steps, "127.0.0.1", "the resolved address is hidden")
	require.NotContains(t, steps, "[::1]", "the resolved address is hidden")
	// What the model was told carries no address either.
	last := model.Calls()[1].Messages
	require.NotContains(t, last[len(last)-1].Content, "127.0.0.1")
}
