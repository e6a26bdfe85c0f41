package llmtest

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Fault is what the fake provider does with one request.
type Fault int

// Faults.
const (
	// Answer answers normally.
	Answer Fault = iota
	// Reset reads the request, then aborts the connection with a TCP RST
	// (SO_LINGER 0): the client reads "connection reset by peer".
	Reset
	// CloseAfterHeaders sends 200 and the headers (a Content-Length it
	// never fulfils), then closes: the body ends early (unexpected EOF).
	CloseAfterHeaders
	// RateLimited answers 429 with Retry-After: 1.
	RateLimited
	// Unavailable answers 503.
	Unavailable
	// ResetMidStream streams the first piece of the answer, then aborts
	// the connection with a RST (plain requests: like Reset).
	ResetMidStream
)

// Plan decides the fault of the n-th request (from 1) for a model; body is
// the request's JSON.
type Plan func(n int, model string, body []byte) Fault

// Wire is a fake model API on a local port. It speaks the real wire
// formats of OpenAI chat completions (POST …/chat/completions, plain or
// streamed), Anthropic messages (POST /v1/messages, plain or streamed) and
// Gemini (POST …/models/{m}:generateContent or :streamGenerateContent),
// and fails requests as its Plan says. Every answer is Text.
type Wire struct {
	*httptest.Server
	Text string

	mu     sync.Mutex
	plan   Plan
	faults []Fault
}

// NewWire starts a fake; Close it when done.
func NewWire(plan Plan) *Wire {
	w := &Wire{plan: plan, Text: "Hello there."}
	w.Server = httptest.NewServer(http.HandlerFunc(w.serve))
	return w
}

// Faults returns the fault applied to each request so far, in order.
func (w *Wire) Faults() []Fault {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Fault(nil), w.faults...)
}

// Count returns how many requests got fault f.
func (w *Wire) Count(f Fault) int {
	n := 0
	for _, g := range w.Faults() {
		if g == f {
			n++
		}
	}
	return n
}

// ClosedURL returns the URL of a local port that refuses connections.
func ClosedURL() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "http://" + addr
}

func (w *Wire) serve(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	model, format, stream := route(r, body)
	w.mu.Lock()
	n := len(w.faults) + 1
	f := Answer
	if w.plan != nil {
		f = w.plan(n, model, body)
	}
	w.faults = append(w.faults, f)
	w.mu.Unlock()
	if f == ResetMidStream && stream {
		rw.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(rw, w.events(format, model)[0])
		rw.(http.Flusher).Flush()
	}
	switch f {
	case Reset, ResetMidStream:
		conn, _, err := rw.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = conn.Close()
		return
	case CloseAfterHeaders:
		conn, buf, err := rw.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		ct := "application/json"
		if stream {
			ct = "text/event-stream"
		}
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: " + ct + "\r\nContent-Length: 1000\r\n\r\n")
		_ = buf.Flush()
		_ = conn.Close()
		return
	case RateLimited:
		rw.Header().Set("Retry-After", "1")
		problem(rw, format, http.StatusTooManyRequests, "rate limited")
		return
	case Unavailable:
		problem(rw, format, http.StatusServiceUnavailable, "overloaded")
		return
	}
	if stream {
		rw.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range w.events(format, model) {
			_, _ = io.WriteString(rw, ev)
			rw.(http.Flusher).Flush()
		}
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(rw, w.answer(format, model))
}

type format int

const (
	openAI format = iota
	anthropicFormat
	geminiFormat
)

// route tells the API and the model from the request.
func route(r *http.Request, body []byte) (model string, f format, stream bool) {
	var req struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	_ = json.Unmarshal(body, &req)
	switch {
	case strings.HasSuffix(r.URL.Path, "/messages"):
		return req.Model, anthropicFormat, req.Stream
	case strings.Contains(r.URL.Path, ":generateContent"), strings.Contains(r.URL.Path, ":streamGenerateContent"):
		name := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		name, method, _ := strings.Cut(name, ":")
		return name, geminiFormat, method == "streamGenerateContent"
	}
	return req.Model, openAI, req.Stream
}

func problem(w http.ResponseWriter, f format, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	m, _ := json.Marshal(msg)
	switch f {
	case anthropicFormat:
		_, _ = io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":`+string(m)+`}}`)
	case geminiFormat:
		_, _ = io.WriteString(w, `{"error":{"code":`+itoa(status)+`,"message":`+string(m)+`,"status":"UNAVAILABLE"}}`)
	default:
		_, _ = io.WriteString(w, `{"error":{"message":`+string(m)+`,"type":"server_error","code":null}}`)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func (w *Wire) answer(f format, model string) string {
	text, _ := json.Marshal(w.Text)
	mj, _ := json.Marshal(model)
	switch f {
	case anthropicFormat:
		return `{"id":"msg_1","type":"message","role":"assistant","model":` + string(mj) + `,"content":[{"type":"text","text":` + string(text) +
			`}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":5}}`
	case geminiFormat:
		return `{"candidates":[{"content":{"role":"model","parts":[{"text":` + string(text) + `}]},"finishReason":"STOP"}],` +
			`"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":15}}`
	}
	return `{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":` + string(mj) + `,` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":` + string(text) + `},"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}`
}

// events is the answer as server-sent events, one piece of text per word.
func (w *Wire) events(f format, model string) []string {
	mj, _ := json.Marshal(model)
	var words []string
	for _, s := range strings.SplitAfter(w.Text, " ") {
		if s != "" {
			words = append(words, s)
		}
	}
	var out []string
	switch f {
	case anthropicFormat:
		ev := func(typ, data string) { out = append(out, "event: "+typ+"\ndata: "+data+"\n\n") }
		ev("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":`+string(mj)+
			`,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":1}}}`)
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		for _, s := range words {
			t, _ := json.Marshal(s)
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+string(t)+`}}`)
		}
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}`)
		ev("message_stop", `{"type":"message_stop"}`)
	case geminiFormat:
		for i, s := range words {
			t, _ := json.Marshal(s)
			finish := ""
			if i == len(words)-1 {
				finish = `,"finishReason":"STOP"`
			}
			out = append(out, `data: {"candidates":[{"content":{"role":"model","parts":[{"text":`+string(t)+`}]}`+finish+`}],`+
				`"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":15}}`+"\r\n\r\n")
		}
	default:
		chunk := func(delta, finish, usage string) string {
			return `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":` + string(mj) +
				`,"choices":[{"index":0,"delta":` + delta + `,"finish_reason":` + finish + `}]` + usage + "}\n\n"
		}
		for _, s := range words {
			t, _ := json.Marshal(s)
			out = append(out, chunk(`{"role":"assistant","content":`+string(t)+`}`, "null", ""))
		}
		out = append(out, chunk(`{}`, `"stop"`, `,"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}`), "data: [DONE]\n\n")
	}
	return out
}
