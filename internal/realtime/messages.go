package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/pulse-run/pulse/internal/platform/events"
)

// clientMessage is what a WebSocket client may send.
type clientMessage struct {
	Type  clientMessageType `json:"type"`
	RunID string            `json:"run_id"`
}

// clientMessageType is what a WebSocket client asks for.
type clientMessageType string

const (
	msgSubscribe   clientMessageType = "subscribe"
	msgUnsubscribe clientMessageType = "unsubscribe"
)

// serverMessageType is what the server answers a client's message with.
type serverMessageType string

const (
	msgSubscribed   serverMessageType = "subscribed"
	msgUnsubscribed serverMessageType = "unsubscribed"
	msgError        serverMessageType = "error"
)

// reply is the server's answer to one client message.
type reply struct {
	Type  serverMessageType `json:"type"`
	RunID string            `json:"run_id,omitempty"`
	Error string            `json:"error,omitempty"`
}

// maxRunIDLen bounds the run id a client may name, so an answer never
// echoes an unbounded string.
const maxRunIDLen = 64

// decodeClientMessage reads one client frame. Whatever the bytes, it returns
// a message or an error a client can act on; it never panics.
func decodeClientMessage(data []byte) (clientMessage, error) {
	var m clientMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return m, errors.New(`send JSON: {"type":"subscribe","run_id":…}`)
	}
	if m.Type != msgSubscribe && m.Type != msgUnsubscribe {
		return m, fmt.Errorf("unknown message type %q", truncate(string(m.Type), 32))
	}
	if m.RunID == "" || len(m.RunID) > maxRunIDLen || !utf8.ValidString(m.RunID) {
		return m, fmt.Errorf("give the run_id of a run (at most %d characters)", maxRunIDLen)
	}
	return m, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func (s *Service) handleClient(ctx context.Context, sub *events.Sub, m clientMessage) reply {
	switch m.Type {
	case msgSubscribe:
		if err := s.p.Runs.CanSee(ctx, m.RunID); err != nil {
			return reply{Type: msgError, RunID: m.RunID, Error: "run not found"}
		}
		sub.Add(events.RunKey(m.RunID))
		return reply{Type: msgSubscribed, RunID: m.RunID}
	case msgUnsubscribe:
		sub.Remove(events.RunKey(m.RunID))
		return reply{Type: msgUnsubscribed, RunID: m.RunID}
	}
	return reply{Type: msgError, Error: fmt.Sprintf("unknown message type %q", truncate(string(m.Type), 32))}
}
