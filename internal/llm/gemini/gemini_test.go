package gemini_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/agent"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/gemini"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/run"
	"github.com/pulse-run/pulse/internal/tool"
)

type fakeGemini struct {
	mu      sync.Mutex
	paths   []string
	bodies  []string
	replies []func(http.ResponseWriter)
	srv     *httptest.Server
}

func start(t *testing.T, replies ...func(http.ResponseWriter)) *fakeGemini {
	f := &fakeGemini{replies: replies}
	problems := llmtest.NewProblems(t)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !problems.Expect(w, "X-Goog-Api-Key", "gm-test", r.Header.Get("X-Goog-Api-Key")) {
			return
		}
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		i := len(f.bodies)
		f.paths = append(f.paths, r.URL.Path)
		f.bodies = append(f.bodies, string(b))
		reply := f.replies[min(i, len(f.replies)-1)]
		f.mu.Unlock()
		reply(w)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func candidate(parts string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"candidates":[{"content":{"role":"model","parts":`+parts+`},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":4,"totalTokenCount":15}}`)
	}
}

func provider(t *testing.T, f *fakeGemini) llm.Provider {
	p, err := gemini.New(context.Background(), gemini.Config{APIKey: "gm-test", BaseURL: f.srv.URL, HTTPClient: f.srv.Client()})
	require.NoError(t, err)
	return p
}

func TestToolLoopOverTheWire(t *testing.T) {
	t.Parallel()
	f := start(t,
		candidate(`[{"functionCall":{"id":"fc1","name":"current_time","args":{"timezone":"UTC"}}}]`),
		candidate(`[{"text":"It is noon."}]`))
	reg := llm.NewRegistry()
	reg.Register("gemini", provider(t, f))
	loop := &run.Loop{Models: reg, Tools: tool.NewRuntime(nil), Now: time.Now}
	out := loop.Execute(context.Background(), run.LoopParams{Spec: agent.Spec{Instructions: "Tell the time.", Model: "gemini/gemini-test",
		Tools: []agent.ToolRef{{Type: "builtin", Name: "current_time"}}}, Input: "Time?"})
	require.Equal(t, run.StatusSucceeded, out.Status, out.ErrorMessage)
	require.JSONEq(t, `"It is noon."`, string(out.Output))
	require.Equal(t, llm.Usage{InputTokens: 22, OutputTokens: 8}, out.Usage)

	require.True(t, strings.HasSuffix(f.paths[0], "/models/gemini-test:generateContent"), f.paths[0])
	first := f.bodies[0]
	require.Equal(t, "Tell the time.", gjson.Get(first, "systemInstruction.parts.0.text").String())
	require.Equal(t, "current_time", gjson.Get(first, "tools.0.functionDeclarations.0.name").String())
	require.Equal(t, "object", gjson.Get(first, "tools.0.functionDeclarations.0.parametersJsonSchema.type").String())
	second := f.bodies[1]
	require.Equal(t, "model", gjson.Get(second, "contents.1.role").String())
	require.Equal(t, "current_time", gjson.Get(second, "contents.1.parts.0.functionCall.name").String())
	require.Equal(t, "user", gjson.Get(second, "contents.2.role").String())
	require.Equal(t, "fc1", gjson.Get(second, "contents.2.parts.0.functionResponse.id").String())
	require.Equal(t, "UTC", gjson.Get(second, "contents.2.parts.0.functionResponse.response.output.timezone").String())
}

func TestRateLimitIsClassified(t *testing.T) {
	t.Parallel()
	f := start(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(429)
		_, _ = io.WriteString(w, `{"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED"}}`)
	})
	_, err := provider(t, f).Chat(context.Background(), llm.Request{Model: "gemini-test", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}})
	var le *llm.Error
	require.True(t, errors.As(err, &le), "got %v", err)
	require.Equal(t, 429, le.Status)
	require.True(t, le.RateLimit)
	require.True(t, le.Retryable)
}

// stream answers streamGenerateContent?alt=sse: each chunk a partial
// GenerateContentResponse, the last with the finish reason and usage.
func stream(chunks ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, c := range chunks {
			_, _ = io.WriteString(w, "data: "+c+"\r\n\r\n")
			w.(http.Flusher).Flush()
		}
	}
}

func TestStreamingFunctionCallAndText(t *testing.T) {
	t.Parallel()
	f := start(t,
		stream(`{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"current_time","args":{"timezone":"UTC"}}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":4,"totalTokenCount":15}}`),
		stream(`{"candidates":[{"content":{"role":"model","parts":[{"text":"It is "}]}}],"usageMetadata":{"promptTokenCount":11}}`,
			`{"candidates":[{"content":{"role":"model","parts":[{"text":"noon."}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":4,"totalTokenCount":15}}`))
	reg := llm.NewRegistry()
	reg.Register("gemini", provider(t, f))
	loop := &run.Loop{Models: reg, Tools: tool.NewRuntime(nil), Now: time.Now}
	var deltas []string
	out := loop.Execute(context.Background(), run.LoopParams{Spec: agent.Spec{Instructions: "Tell the time.", Model: "gemini/gemini-test",
		Tools: []agent.ToolRef{{Type: "builtin", Name: "current_time"}}}, Input: "Time?",
		Events: func(e run.Event) {
			if e.Type == events.MessageDelta {
				deltas = append(deltas, e.Data.(map[string]any)["text"].(string))
			}
		}})
	require.Equal(t, run.StatusSucceeded, out.Status, out.ErrorMessage)
	require.JSONEq(t, `"It is noon."`, string(out.Output))
	require.Equal(t, []string{"It is ", "noon."}, deltas)
	require.Equal(t, llm.Usage{InputTokens: 22, OutputTokens: 8}, out.Usage)
	require.True(t, strings.HasSuffix(f.paths[0], "/models/gemini-test:streamGenerateContent"), f.paths[0])
	// A call without an id (older models) gets one, and its result refers to it.
	require.Equal(t, "call_0", gjson.Get(f.bodies[1], "contents.2.parts.0.functionResponse.id").String())
}
