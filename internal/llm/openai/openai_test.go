package openai_test

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
	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/llm/openai"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/run"
	"github.com/pulse-run/pulse/internal/tool"
)

// fakeOpenAI answers POST /chat/completions with scripted responses in the
// real wire format and records each request body.
type fakeOpenAI struct {
	mu       sync.Mutex
	bodies   []string
	handlers []func(w http.ResponseWriter, body string)
	srv      *httptest.Server
}

func startFake(t *testing.T, handlers ...func(w http.ResponseWriter, body string)) *fakeOpenAI {
	f := &fakeOpenAI{handlers: handlers}
	problems := llmtest.NewProblems(t)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !problems.Expect(w, "path", "/chat/completions", r.URL.Path) || !problems.Expect(w, "Authorization", "Bearer sk-test", r.Header.Get("Authorization")) {
			return
		}
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		i := len(f.bodies)
		f.bodies = append(f.bodies, string(b))
		h := f.handlers[min(i, len(f.handlers)-1)]
		f.mu.Unlock()
		h(w, string(b))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeOpenAI) body(i int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies[i]
}

func reply(message string, finish string) func(http.ResponseWriter, string) {
	return func(w http.ResponseWriter, _ string) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-test",
			"choices":[{"index":0,"message":`+message+`,"finish_reason":"`+finish+`"}],
			"usage":{"prompt_tokens":21,"completion_tokens":7,"total_tokens":28}}`)
	}
}

func status(code int, retryAfter string) func(http.ResponseWriter, string) {
	return func(w http.ResponseWriter, _ string) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"error":{"message":"slow down","type":"rate_limit_error","code":null}}`)
	}
}

func provider(f *fakeOpenAI) llm.Provider {
	return openai.New(openai.Config{APIKey: "sk-test", BaseURL: f.srv.URL, HTTPClient: f.srv.Client()})
}

func TestToolLoopOverTheWire(t *testing.T) {
	t.Parallel()
	f := startFake(t,
		reply(`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"current_time","arguments":"{\"timezone\":\"UTC\"}"}}]}`, "tool_calls"),
		reply(`{"role":"assistant","content":"It is noon."}`, "stop"))
	reg := llm.NewRegistry()
	reg.Register("openai", provider(f))
	loop := &run.Loop{Models: reg, Tools: tool.NewRuntime(nil), Now: time.Now}
	out := loop.Execute(context.Background(), run.LoopParams{Spec: agent.Spec{Instructions: "Tell time.", Model: "openai/gpt-test",
		Tools: []agent.ToolRef{{Type: "builtin", Name: "current_time"}}}, Input: "Time?"})
	require.Equal(t, run.StatusSucceeded, out.Status, out.ErrorMessage)
	require.JSONEq(t, `"It is noon."`, string(out.Output))
	require.Equal(t, llm.Usage{InputTokens: 42, OutputTokens: 14}, out.Usage)

	first := f.body(0)
	require.Equal(t, "gpt-test", gjson.Get(first, "model").String())
	require.Equal(t, "system", gjson.Get(first, "messages.0.role").String())
	require.Equal(t, "function", gjson.Get(first, "tools.0.type").String())
	require.Equal(t, "current_time", gjson.Get(first, "tools.0.function.name").String())
	require.Equal(t, "object", gjson.Get(first, "tools.0.function.parameters.type").String())

	second := f.body(1)
	require.Equal(t, "assistant", gjson.Get(second, "messages.2.role").String())
	require.Equal(t, "call_1", gjson.Get(second, "messages.2.tool_calls.0.id").String())
	require.Equal(t, `{"timezone":"UTC"}`, gjson.Get(second, "messages.2.tool_calls.0.function.arguments").String())
	require.Equal(t, "tool", gjson.Get(second, "messages.3.role").String())
	require.Equal(t, "call_1", gjson.Get(second, "messages.3.tool_call_id").String())
	require.Contains(t, gjson.Get(second, "messages.3.content").String(), `"timezone":"UTC"`)
}

func TestStructuredOutputRequest(t *testing.T) {
	t.Parallel()
	f := startFake(t, reply(`{"role":"assistant","content":"{\"plan\":\"rest\"}"}`, "stop"))
	resp, err := provider(f).Chat(context.Background(), llm.Request{Model: "gpt-test", Messages: []llm.Message{{Role: llm.RoleUser, Content: "plan"}},
		OutputSchema: json.RawMessage(`{"type":"object","properties":{"plan":{"type":"string"}}}`)})
	require.NoError(t, err)
	require.Equal(t, `{"plan":"rest"}`, resp.Message.Content)
	body := f.body(0)
	require.Equal(t, "json_schema", gjson.Get(body, "response_format.type").String())
	require.Equal(t, "string", gjson.Get(body, "response_format.json_schema.schema.properties.plan.type").String())
}

func TestRateLimitIsRetriedHonouringRetryAfter(t *testing.T) {
	t.Parallel()
	f := startFake(t, status(429, "1"), reply(`{"role":"assistant","content":"ok"}`, "stop"))
	p := llm.Retry(provider(f), llm.RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: 2 * time.Second})
	start := time.Now()
	resp, err := p.Chat(context.Background(), llm.Request{Model: "gpt-test", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}})
	require.NoError(t, err)
	require.Equal(t, "ok", resp.Message.Content)
	require.GreaterOrEqual(t, time.Since(start), time.Second, "waited for Retry-After")

	// A client error is not retried, and says what the provider said.
	bad := startFake(t, status(400, ""))
	_, err = llm.Retry(provider(bad), llm.RetryPolicy{Attempts: 3, Base: time.Millisecond}).Chat(context.Background(),
		llm.Request{Model: "gpt-test", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}})
	var le *llm.Error
	require.ErrorAs(t, err, &le)
	require.Equal(t, 400, le.Status)
	require.False(t, le.Retryable)
	require.Len(t, bad.bodies, 1)
}

// sse writes the chunks as OpenAI's server-sent events, flushing each so
// the client really receives them one at a time.
func sse(chunks ...string) func(http.ResponseWriter, string) {
	return func(w http.ResponseWriter, _ string) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range chunks {
			_, _ = io.WriteString(w, "data: "+c+"\n\n")
			w.(http.Flusher).Flush()
		}
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
	}
}

func chunk(delta, finish string) string {
	f := "null"
	if finish != "" {
		f = `"` + finish + `"`
	}
	return `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-test","choices":[{"index":0,"delta":` + delta + `,"finish_reason":` + f + `}]}`
}

const usageChunk = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-test","choices":[],"usage":{"prompt_tokens":21,"completion_tokens":7,"total_tokens":28}}`

func TestStreamingToolCallsAndText(t *testing.T) {
	t.Parallel()
	f := startFake(t,
		// Two parallel calls whose arguments arrive in fragments.
		sse(chunk(`{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"current_time","arguments":""}}]}`, ""),
			chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"timezone\":"}}]}`, ""),
			chunk(`{"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"current_time","arguments":"{}"}}]}`, ""),
			chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"\"UTC\"}"}}]}`, ""),
			chunk(`{}`, "tool_calls"), usageChunk),
		sse(chunk(`{"role":"assistant","content":""}`, ""), chunk(`{"content":"It is "}`, ""), chunk(`{"content":"noon."}`, ""),
			chunk(`{}`, "stop"), usageChunk))
	reg := llm.NewRegistry()
	reg.Register("openai", provider(f))
	loop := &run.Loop{Models: reg, Tools: tool.NewRuntime(nil), Now: time.Now}
	var deltas []string
	out := loop.Execute(context.Background(), run.LoopParams{Spec: agent.Spec{Instructions: "Tell time.", Model: "openai/gpt-test",
		Tools: []agent.ToolRef{{Type: "builtin", Name: "current_time"}}}, Input: "Time?",
		Events: func(e run.Event) {
			if e.Type == events.MessageDelta {
				deltas = append(deltas, e.Data.(map[string]any)["text"].(string))
			}
		}})
	require.Equal(t, run.StatusSucceeded, out.Status, out.ErrorMessage)
	require.JSONEq(t, `"It is noon."`, string(out.Output))
	require.Equal(t, []string{"It is ", "noon."}, deltas)
	require.Equal(t, llm.Usage{InputTokens: 42, OutputTokens: 14}, out.Usage, "usage comes from the final chunk")

	first := f.body(0)
	require.True(t, gjson.Get(first, "stream").Bool())
	require.True(t, gjson.Get(first, "stream_options.include_usage").Bool())
	// The fragments were joined into whole calls, both answered.
	second := f.body(1)
	require.Equal(t, `{"timezone":"UTC"}`, gjson.Get(second, "messages.2.tool_calls.0.function.arguments").String())
	require.Equal(t, "call_2", gjson.Get(second, "messages.2.tool_calls.1.id").String())
	require.Equal(t, "call_1", gjson.Get(second, "messages.3.tool_call_id").String())
	require.Equal(t, "call_2", gjson.Get(second, "messages.4.tool_call_id").String())
}

func TestStreamingErrorsAreClassified(t *testing.T) {
	t.Parallel()
	f := startFake(t, status(429, "0"), sse(chunk(`{"content":"ok"}`, "stop"), usageChunk))
	var got []string
	p := llm.Retry(provider(f), llm.RetryPolicy{Attempts: 2, Base: time.Millisecond})
	resp, err := p.Chat(context.Background(), llm.Request{Model: "gpt-test", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}},
		OnDelta: func(s string) { got = append(got, s) }})
	require.NoError(t, err, "a rate limit before any text is retried")
	require.Equal(t, "ok", resp.Message.Content)
	require.Equal(t, []string{"ok"}, got)

	// A stream that breaks after text was sent is not retried: the listener
	// would see the text twice.
	broken := startFake(t, func(w http.ResponseWriter, _ string) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: "+chunk(`{"content":"par"}`, "")+"\n\n")
		_, _ = io.WriteString(w, `data: {"error":{"message":"server overloaded","type":"server_error"}}`+"\n\n")
	})
	got = nil
	_, err = llm.Retry(provider(broken), llm.RetryPolicy{Attempts: 3, Base: time.Millisecond}).Chat(context.Background(),
		llm.Request{Model: "gpt-test", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}, OnDelta: func(s string) { got = append(got, s) }})
	require.Error(t, err)
	require.Equal(t, []string{"par"}, got)
	require.Len(t, broken.bodies, 1)
}
