package realtime

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/httpx"
	"github.com/pulse-run/pulse/internal/platform/kv"
	"github.com/pulse-run/pulse/internal/platform/logging"
)

// seenContext is the RunAccess of this test: it reports the context each
// check was made with.
type seenContext struct{ ctxs chan context.Context }

func (s seenContext) CanSee(ctx context.Context, _ string) error {
	s.ctxs <- ctx
	return apperr.New(apperr.NotFound, "no such run")
}

// A WebSocket outlives its HTTP request, but what it does on the client's
// behalf still carries that request's context: its principal and request
// id. The server's shutdown, not the end of the request, cancels it.
func TestWebSocketKeepsTheRequestContext(t *testing.T) {
	t.Parallel()
	bus := events.New(events.NewMemory(0), slog.New(slog.DiscardHandler))
	bus.Start(context.Background())
	t.Cleanup(bus.Close)
	access := seenContext{ctxs: make(chan context.Context, 1)}
	s := New(Params{Bus: bus, KV: kv.New(dbtest.Open(t, config.SQLite), nil), Runs: access})
	r, err := httpx.NewRouter(httpx.RouterParams{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	r.V1.UseMiddleware(func(hc huma.Context, next func(huma.Context)) {
		next(huma.WithContext(hc, authn.With(hc.Context(), &authn.Principal{UserID: "u1"})))
	})
	Register(r.V1, s, nil)
	srv := httptest.NewServer(r.Handler)
	t.Cleanup(srv.Close)

	ctx := context.Background()
	ws, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/api/v1/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{httpx.RequestIDHeader: {"req-ws-1"}}})
	require.NoError(t, err)
	defer ws.CloseNow()
	require.Equal(t, "req-ws-1", res.Header.Get(httpx.RequestIDHeader))
	require.NoError(t, ws.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribe","run_id":"r1"}`)))
	var seen context.Context
	select {
	case seen = <-access.ctxs:
	case <-time.After(10 * time.Second):
		t.Fatal("the subscription was never checked")
	}
	require.Equal(t, "req-ws-1", logging.RequestID(seen))
	pr, ok := authn.From(seen)
	require.True(t, ok)
	require.Equal(t, "u1", pr.UserID)
	_, msg, err := ws.Read(ctx)
	require.NoError(t, err)
	require.Contains(t, string(msg), `"type":"error"`)
	require.NoError(t, seen.Err(), "the hijacked request's end does not cancel the socket")

	s.Drain(ctx)
	select {
	case <-seen.Done(): // the shutdown cancels it
	case <-time.After(10 * time.Second):
		t.Fatal("the socket's context outlived the shutdown")
	}
}
