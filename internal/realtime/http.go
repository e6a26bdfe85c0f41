package realtime

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/coder/websocket"
	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"

	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/httpx"
)

type ticketOutput struct{ Body Ticket }

type connectInput struct {
	Ticket      string `query:"ticket" maxLength:"100" doc:"single-use ticket from POST /realtime/tickets, for clients that cannot send headers"`
	RunID       string `query:"run_id" maxLength:"64" doc:"only this run's events"`
	LastEventID string `header:"Last-Event-ID" maxLength:"64" doc:"replay what came after this event (sent by EventSource on reconnect)"`
	LastQuery   string `query:"last_event_id" maxLength:"64" doc:"the same, for clients that cannot send the header"`
}

func (in *connectInput) lastID() string {
	if in.LastEventID != "" {
		return in.LastEventID
	}
	return in.LastQuery
}

// Register adds the realtime operations.
func Register(v1 *httpx.API, s *Service, corsOrigins []string) {
	tag := []string{"Realtime"}
	bearer := []map[string][]string{{"bearer": {}}, {"oauth2": {}}}
	httpx.Register(v1, huma.Operation{OperationID: "create-realtime-ticket", Metadata: httpx.OneTimeSecret(), Method: http.MethodPost, Path: "/realtime/tickets", Tags: tag,
		Summary: "Get a single-use ticket (30 s) to open /events or /ws from a browser", DefaultStatus: http.StatusCreated, Security: bearer},
		func(ctx context.Context, _ *struct{}) (*ticketOutput, error) {
			t, err := s.IssueTicket(ctx)
			if err != nil {
				return nil, err
			}
			return &ticketOutput{Body: *t}, nil
		})

	httpx.Register(v1, huma.Operation{OperationID: "stream-events", Method: http.MethodGet, Path: "/events", Tags: tag,
		Summary: "Server-Sent Events: your notifications and your runs' events",
		Description: "Each event has an `id` (except token deltas, which are live only), an event name (its type) and a JSON `data` " +
			"envelope `{id, topic, type, data}`. Reconnect with `Last-Event-ID` to receive what you missed (kept 10 minutes). " +
			"A comment line is sent every 15 s. The stream ends with an `error` event if you read too slowly, `reauth` when your " +
			"credential expires, and `shutdown` when the server restarts.",
		Security: append([]map[string][]string{{}}, bearer...),
		Responses: map[string]*huma.Response{"200": {Description: "an event stream", Content: map[string]*huma.MediaType{
			"text/event-stream": {Schema: &huma.Schema{Type: "string"}}}}}},
		func(ctx context.Context, in *connectInput) (*huma.StreamResponse, error) {
			ctx, c, err := s.connect(ctx, ConnectParams{Ticket: in.Ticket, RunID: in.RunID})
			if err != nil {
				return nil, err
			}
			sub, missed, seen, err := s.subscribe(ctx, c, in.lastID(), nil)
			if err != nil {
				c.release()
				return nil, err
			}
			return &huma.StreamResponse{Body: func(hctx huma.Context) {
				defer c.release()
				defer sub.Close()
				s.serveSSE(hctx, c, sub, missed, seen)
			}}, nil
		})

	httpx.Register(v1, huma.Operation{OperationID: "websocket", Method: http.MethodGet, Path: "/ws", Tags: tag,
		Summary: "WebSocket: the same events as /events, and subscriptions to runs",
		Description: "The server sends JSON envelopes `{id, topic, type, data}`. Send `{\"type\":\"subscribe\",\"run_id\":…}` or " +
			"`{\"type\":\"unsubscribe\",\"run_id\":…}`; each is answered with `subscribed`, `unsubscribed` or `error`. " +
			"Close codes: 1008 when you read too slowly, 1001 when the server shuts down, 4001 when your credential expires.",
		Security: append([]map[string][]string{{}}, bearer...)},
		func(ctx context.Context, in *connectInput) (*huma.StreamResponse, error) {
			ctx, c, err := s.connect(ctx, ConnectParams{Ticket: in.Ticket, RunID: in.RunID})
			if err != nil {
				return nil, err
			}
			// The socket outlives the request once hijacked: it keeps the
			// request's values (principal, request id, logger) but not its
			// cancellation, which comes from the server's shutdown instead.
			wc := newWSConn(s, c, context.WithoutCancel(ctx))
			sub, missed, seen, err := s.subscribe(ctx, c, in.lastID(), wc.kick)
			if err != nil {
				c.release()
				return nil, err
			}
			return &huma.StreamResponse{Body: func(hctx huma.Context) {
				r, w := humachi.Unwrap(hctx)
				rc := http.NewResponseController(w)
				_ = rc.SetReadDeadline(time.Time{})
				_ = rc.SetWriteDeadline(time.Time{})
				// No compression: its per-connection windows would cost more
				// than small JSON events save.
				ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: originPatterns(corsOrigins),
					CompressionMode: websocket.CompressionDisabled})
				if err != nil {
					c.release()
					sub.Close()
					return // Accept wrote the refusal
				}
				// The connection is hijacked: the request's goroutine, whose
				// stack grew deep through the middleware, ends here.
				wc.start(ws, sub, missed, seen)
			}}, nil
		})
}

// originPatterns admits the browser origins CORS admits (host parts).
func originPatterns(origins []string) []string {
	var out []string
	for _, o := range origins {
		if o == "*" {
			return []string{"*"}
		}
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			out = append(out, u.Host)
		}
	}
	return out
}

func (s *Service) serveSSE(hctx huma.Context, c *conn, sub *events.Sub, missed []events.Event, seen map[string]bool) {
	sse := httpx.StartSSE(hctx)
	ctx := hctx.Context()
	for _, ev := range missed {
		if sse.SendRaw(ev.ID, ev.Type, events.Wire(ev)) != nil {
			return
		}
	}
	beat := time.NewTicker(s.p.Heartbeat)
	defer beat.Stop()
	expired := c.expiry()
	for {
		select {
		case ev := <-sub.C():
			if seen[ev.ID] && ev.ID != "" {
				continue
			}
			if sse.SendRaw(ev.ID, ev.Type, ev.Wire()) != nil {
				return
			}
		case <-beat.C:
			if sse.Comment("ping") != nil {
				return
			}
		case <-sub.Done():
			reason, retry := "slow_consumer", 0
			if errors.Is(sub.Err(), events.ErrClosed) {
				reason, retry = "shutdown", 1000
			}
			if retry > 0 {
				_ = sse.Retry(retry)
			}
			_ = sse.Send(map[string]events.Type{"slow_consumer": events.StreamError, "shutdown": events.StreamShutdown}[reason],
				map[string]string{"reason": reason, "message": closeMessage(reason)})
			return
		case <-s.drain:
			_ = sse.Retry(1000)
			_ = sse.Send(events.StreamShutdown, map[string]string{"reason": "shutdown", "message": closeMessage("shutdown")})
			return
		case <-expired:
			_ = sse.Send(events.StreamReauth, map[string]string{"reason": "credential_expired", "message": closeMessage("credential_expired")})
			return
		case <-ctx.Done():
			return
		}
	}
}

func closeMessage(reason string) string {
	switch reason {
	case "slow_consumer":
		return "events arrived faster than this connection read them; reconnect with Last-Event-ID"
	case "shutdown":
		return "the server is restarting; reconnect with Last-Event-ID"
	case "credential_expired":
		return "your credential expired; reconnect with a fresh token or ticket and Last-Event-ID"
	}
	return reason
}
