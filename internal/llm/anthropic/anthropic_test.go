package anthropic_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/agent"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/anthropic"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/platform/events"
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
	problems := llmtest.NewProblems(t)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !problems.Expect(w, "path", "/v1/messages", r.URL.Path) || !problems.Expect(w, "X-Api-Key", "sk-ant-test", r.Header.Get("X-Api-Key")) {
			return
		}
		if r.Header.Get("Anthropic-Version") == "" {
			problems.Fail(w, "no Anthropic-Version header")
			return
		}
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

// sseReply writes Anthropic's server-sent events, flushing each.
func sseReply(evs ...[2]string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range evs {
			_, _ = io.WriteString(w, "event: "+ev[0]+"\ndata: "+ev[1]+"\n\n")
			w.(http.Flusher).Flush()
		}
	}
}

func TestStreamingToolUseAndText(t *testing.T) {
	t.Parallel()
	start_ := [2]string{"message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-test","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":30,"output_tokens":1}}}`}
	stop := func(reason string, out int) [][2]string {
		return [][2]string{
			{"message_delta", `{"type":"message_delta","delta":{"stop_reason":"` + reason + `","stop_sequence":null},"usage":{"output_tokens":` + strconv.Itoa(out) + `}}`},
			{"message_stop", `{"type":"message_stop"}`}}
	}
	toolTurn := append([][2]string{start_,
		{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
		{"ping", `{"type":"ping"}`},
		{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking"}}`},
		{"content_block_stop", `{"type":"content_block_stop","index":0}`},
		{"content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"current_time","input":{}}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"timezone\":"}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \"UTC\"}"}}`},
		{"content_block_stop", `{"type":"content_block_stop","index":1}`}}, stop("tool_use", 12)...)
	textTurn := append([][2]string{start_,
		{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"It is "}}`},
		{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"noon."}}`},
		{"content_block_stop", `{"type":"content_block_stop","index":0}`}}, stop("end_turn", 6)...)
	f := start(t, sseReply(toolTurn...), sseReply(textTurn...))
	reg := llm.NewRegistry()
	reg.Register("anthropic", anthropic.New(anthropic.Config{APIKey: "sk-ant-test", BaseURL: f.srv.URL, HTTPClient: f.srv.Client()}))
	loop := &run.Loop{Models: reg, Tools: tool.NewRuntime(nil), Now: time.Now}
	var deltas []string
	out := loop.Execute(context.Background(), run.LoopParams{Spec: agent.Spec{Instructions: "Tell the time.", Model: "anthropic/claude-test",
		Tools: []agent.ToolRef{{Type: "builtin", Name: "current_time"}}}, Input: "Time?",
		Events: func(e run.Event) {
			if e.Type == events.MessageDelta {
				deltas = append(deltas, e.Data.(map[string]any)["text"].(string))
			}
		}})
	require.Equal(t, run.StatusSucceeded, out.Status, out.ErrorMessage)
	require.JSONEq(t, `"It is noon."`, string(out.Output))
	require.Equal(t, []string{"Checking", "It is ", "noon."}, deltas)
	require.Equal(t, llm.Usage{InputTokens: 60, OutputTokens: 18}, out.Usage)
	require.True(t, gjson.Get(f.bodies[0], "stream").Bool())
	second := f.bodies[1]
	require.Equal(t, "Checking", gjson.Get(second, "messages.1.content.0.text").String())
	require.Equal(t, "UTC", gjson.Get(second, "messages.1.content.1.input.timezone").String(), "partial JSON was joined")
	require.Equal(t, "toolu_1", gjson.Get(second, "messages.2.content.0.tool_use_id").String())
}
