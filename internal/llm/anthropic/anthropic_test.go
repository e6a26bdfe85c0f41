package anthropic_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/agent"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/anthropic"
	"github.com/pulse-run/pulse/internal/run"
	"github.com/pulse-run/pulse/internal/tool"
)

// fakeAnthropic answers POST /v1/messages in the real wire format.
type fakeAnthropic struct {
	mu      sync.Mutex
	bodies  []string
	replies []func(http.ResponseWriter)
	srv     *httptest.Server
}

func start(t *testing.T, replies ...func(http.ResponseWriter)) *fakeAnthropic {
	f := &fakeAnthropic{replies: replies}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/v1/messages", r.URL.Path)
		require.Equal(t, "sk-ant-test", r.Header.Get("X-Api-Key"))
		require.NotEmpty(t, r.Header.Get("Anthropic-Version"))
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		i := len(f.bodies)
		f.bodies = append(f.bodies, string(b))
		reply := f.replies[min(i, len(f.replies)-1)]
		f.mu.Unlock()
		reply(w)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func message(content string, stop string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-test","content":`+content+
			`,"stop_reason":"`+stop+`","stop_sequence":null,"usage":{"input_tokens":30,"output_tokens":9}}`)
	}
}

func TestToolLoopOverTheWire(t *testing.T) {
	t.Parallel()
	f := start(t,
		message(`[{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_1","name":"current_time","input":{"timezone":"UTC"}},{"type":"tool_use","id":"toolu_2","name":"current_time","input":{}}]`, "tool_use"),
		message(`[{"type":"text","text":"It is noon."}]`, "end_turn"))
	reg := llm.NewRegistry()
	reg.Register("anthropic", anthropic.New(anthropic.Config{APIKey: "sk-ant-test", BaseURL: f.srv.URL, HTTPClient: f.srv.Client()}))
	loop := &run.Loop{Models: reg, Tools: tool.NewRuntime(nil), Now: time.Now}
	out := loop.Execute(context.Background(), run.LoopParams{Spec: agent.Spec{Instructions: "Tell the time.", Model: "anthropic/claude-test",
		Tools: []agent.ToolRef{{Type: "builtin", Name: "current_time"}}}, Input: "Time?"})
	require.Equal(t, run.StatusSucceeded, out.Status, out.ErrorMessage)
	require.JSONEq(t, `"It is noon."`, string(out.Output))
	require.Equal(t, llm.Usage{InputTokens: 60, OutputTokens: 18}, out.Usage)

	first := f.bodies[0]
	require.Equal(t, "claude-test", gjson.Get(first, "model").String())
	require.Equal(t, "Tell the time.", gjson.Get(first, "system.0.text").String())
	require.Equal(t, int64(4096), gjson.Get(first, "max_tokens").Int())
	require.Equal(t, "current_time", gjson.Get(first, "tools.0.name").String())
	require.Equal(t, "object", gjson.Get(first, "tools.0.input_schema.type").String())
	require.Equal(t, "user", gjson.Get(first, "messages.0.role").String())

	second := f.bodies[1]
	require.Equal(t, "assistant", gjson.Get(second, "messages.1.role").String())
	require.Equal(t, "tool_use", gjson.Get(second, "messages.1.content.1.type").String())
	require.Equal(t, "UTC", gjson.Get(second, "messages.1.content.1.input.timezone").String())
	// Both results travel in one user message of tool_result blocks.
	require.Equal(t, "user", gjson.Get(second, "messages.2.role").String())
	require.Equal(t, int64(2), gjson.Get(second, "messages.2.content.#").Int())
	require.Equal(t, "toolu_1", gjson.Get(second, "messages.2.content.0.tool_use_id").String())
	require.Equal(t, "toolu_2", gjson.Get(second, "messages.2.content.1.tool_use_id").String())
	require.Equal(t, int64(3), gjson.Get(second, "messages.#").Int())
}

func TestOverloadIsRetryableAndSchemaIsAsked(t *testing.T) {
	t.Parallel()
	overloaded := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(529)
		_, _ = io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
	}
	f := start(t, overloaded, message(`[{"type":"text","text":"{\"plan\":\"rest\"}"}]`, "end_turn"))
	p := llm.Retry(anthropic.New(anthropic.Config{APIKey: "sk-ant-test", BaseURL: f.srv.URL, HTTPClient: f.srv.Client()}),
		llm.RetryPolicy{Attempts: 2, Base: time.Millisecond})
	resp, err := p.Chat(context.Background(), llm.Request{Model: "claude-test", Messages: []llm.Message{{Role: llm.RoleUser, Content: "plan"}},
		OutputSchema: json.RawMessage(`{"type":"object"}`)})
	require.NoError(t, err)
	require.Equal(t, `{"plan":"rest"}`, resp.Message.Content)
	require.Len(t, f.bodies, 2)
	require.Contains(t, gjson.Get(f.bodies[1], "system.0.text").String(), `{"type":"object"}`)
}
