package httpx

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"

	"github.com/pulse-run/pulse/internal/platform/events"
)

// SSE writes Server-Sent Events on a huma streaming response.
type SSE struct {
	w http.ResponseWriter
	c *http.ResponseController
}

// StartSSE sends the event-stream headers. The server's write timeout is
// lifted for this response: a stream lasts as long as its run.
func StartSSE(hctx huma.Context) *SSE {
	_, w := humachi.Unwrap(hctx)
	c := http.NewResponseController(w)
	_ = c.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // tell nginx not to buffer
	w.WriteHeader(http.StatusOK)
	_ = c.Flush()
	return &SSE{w: w, c: c}
}

// Send writes one event with a JSON payload and flushes it.
func (s *SSE) Send(event events.Type, data any) error {
	return s.SendID("", event, data)
}

// WantsSSE reports whether an Accept header asks for an event stream.
func WantsSSE(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(part, ";")
		if strings.TrimSpace(mt) == "text/event-stream" {
			return true
		}
	}
	return false
}

// SendID writes one event with an id (omitted when empty), so a client can
// resume after it with Last-Event-ID.
func (s *SSE) SendID(id string, event events.Type, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return s.SendRaw(id, event, b)
}

// Comment writes a comment line: a heartbeat that keeps proxies from
// closing an idle stream and tells the server whether the client is gone.
func (s *SSE) Comment(text string) error {
	_ = s.c.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	if _, err := fmt.Fprintf(s.w, ": %s\n\n", text); err != nil {
		return err
	}
	return s.c.Flush()
}

// Retry tells the client how long to wait before reconnecting.
func (s *SSE) Retry(ms int) error {
	_ = s.c.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	if _, err := fmt.Fprintf(s.w, "retry: %d\n\n", ms); err != nil {
		return err
	}
	return s.c.Flush()
}

// sseWriteTimeout bounds each write: a client that stops reading is cut
// off instead of holding its handler forever.
const sseWriteTimeout = 10 * time.Second

// SendRaw writes one event whose data is already encoded JSON.
func (s *SSE) SendRaw(id string, event events.Type, data []byte) error {
	_ = s.c.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	if id != "" {
		if _, err := fmt.Fprintf(s.w, "id: %s\n", id); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", event, data); err != nil {
		return err
	}
	return s.c.Flush()
}
