package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/pulse-run/pulse/internal/platform/events"
)

// wsConn serves one WebSocket with a single long-lived goroutine, the
// reader (coder/websocket needs one for pings and closes). Events are
// written by a goroutine started when some are queued, which ends when the
// queue is empty; heartbeats and expiry are timers. An idle socket thus
// costs one small stack, which is what lets one process hold 10,000.
type wsConn struct {
	s   *Service
	c   *conn
	ctx context.Context // the request's values; cancelled by close or the server's shutdown

	ws    *websocket.Conn
	sub   *events.Sub
	seen  map[string]bool
	ready chan struct{} // closed once ws and sub are set

	writing atomic.Bool
	stop    context.CancelFunc
	beat    *time.Timer
	expire  *time.Timer
	once    sync.Once
}

func newWSConn(s *Service, c *conn, ctx context.Context) *wsConn {
	return &wsConn{s: s, c: c, ctx: ctx, ready: make(chan struct{})}
}

// start serves the accepted socket: it sends what the client missed, then
// returns, leaving the reader goroutine and timers in charge.
func (w *wsConn) start(ws *websocket.Conn, sub *events.Sub, missed []events.Event, seen map[string]bool) {
	w.ws, w.sub, w.seen = ws, sub, seen
	ctx, cancel := context.WithCancel(w.ctx)
	unlink := context.AfterFunc(w.s.life, cancel)
	w.stop = func() {
		unlink()
		cancel()
	}
	w.ctx = ctx
	w.s.mu.Lock()
	w.s.sockets[w] = struct{}{}
	draining := w.s.draining
	w.s.mu.Unlock()
	if draining {
		w.close(websocket.StatusGoingAway, closeMessage("shutdown"))
		return
	}
	go func() {
		// The backlog goes first, in the writer's place, so live events
		// queued meanwhile follow it in order.
		w.writing.Store(true)
		close(w.ready)
		for _, ev := range missed {
			if w.write(events.Wire(ev)) != nil {
				w.close(websocket.StatusInternalError, "write failed")
				return
			}
		}
		w.flush()
	}()
	w.beat = time.AfterFunc(w.s.p.Heartbeat, w.ping)
	if !w.c.until.IsZero() {
		w.expire = time.AfterFunc(time.Until(w.c.until), func() { w.close(4001, "credential expired") })
	}
	go w.read()
}

// kick is the subscription's notify: it starts the writer unless one runs.
func (w *wsConn) kick() {
	if w.writing.CompareAndSwap(false, true) {
		go func() {
			<-w.ready
			w.flush()
		}()
	}
}

// flush writes queued events until none are left, then ends.
func (w *wsConn) flush() {
	for {
		select {
		case ev := <-w.sub.C():
			if w.seen[ev.ID] && ev.ID != "" {
				continue
			}
			if w.write(ev.Wire()) != nil {
				w.close(websocket.StatusInternalError, "write failed")
				return
			}
			continue
		case <-w.sub.Done():
			if errors.Is(w.sub.Err(), events.ErrSlowConsumer) {
				w.close(websocket.StatusPolicyViolation, "slow consumer: event buffer full")
			} else {
				w.close(websocket.StatusGoingAway, closeMessage("shutdown"))
			}
			return
		default:
		}
		w.writing.Store(false)
		// An event queued between the empty check and the store above
		// found the flag set and started nobody: look again.
		if len(w.sub.C()) == 0 || !w.writing.CompareAndSwap(false, true) {
			return
		}
	}
}

func (w *wsConn) write(b []byte) error {
	ctx, done := context.WithTimeout(w.ctx, wsWriteTimeout)
	defer done()
	return w.ws.Write(ctx, websocket.MessageText, b)
}

func (w *wsConn) reply(v any) {
	b, err := json.Marshal(v)
	if err == nil && w.write(b) != nil {
		w.close(websocket.StatusInternalError, "write failed")
	}
}

// ping checks the client is alive, then schedules the next check.
func (w *wsConn) ping() {
	ctx, done := context.WithTimeout(w.ctx, wsWriteTimeout)
	err := w.ws.Ping(ctx)
	done()
	if err != nil {
		w.close(websocket.StatusGoingAway, "no answer to ping")
		return
	}
	if w.ctx.Err() == nil {
		w.beat.Reset(w.s.p.Heartbeat)
	}
}

// read handles the client's messages until the socket closes.
func (w *wsConn) read() {
	defer w.close(websocket.StatusNormalClosure, "")
	for {
		_, data, err := w.ws.Read(w.ctx)
		if err != nil {
			return
		}
		m, err := decodeClientMessage(data)
		if err != nil {
			w.reply(reply{Type: msgError, Error: err.Error()})
			continue
		}
		w.reply(w.s.handleClient(w.ctx, w.sub, m))
	}
}

// close ends the socket once, with a code and reason, and frees its slot.
func (w *wsConn) close(code websocket.StatusCode, reason string) {
	w.once.Do(func() {
		if w.beat != nil {
			w.beat.Stop()
		}
		if w.expire != nil {
			w.expire.Stop()
		}
		_ = w.ws.Close(code, reason)
		w.stop()
		w.sub.Close()
		w.s.mu.Lock()
		delete(w.s.sockets, w)
		w.s.mu.Unlock()
		w.c.release()
	})
}

const wsWriteTimeout = 10 * time.Second
