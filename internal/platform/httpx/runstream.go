package httpx

import (
	"context"
	"encoding/json"
	"github.com/pulse-run/pulse/internal/platform/events"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// RunResponse answers a request that started a unit of durable work (an
// agent run, a workflow run): 202 with its Location when it was queued,
// else the finished item as JSON, or, streaming, its events as Server-Sent
// Events while it executes in this request. Every feature's run endpoint
// answers through it, so they behave alike.
type RunResponse[T any] struct {
	API *API
	// Queued: the work went to the queue; QueuedBody is answered with 202
	// and a Location.
	Queued     bool
	Location   string
	QueuedBody any
	// Stream answers events (run.created first, Created its data).
	Stream  bool
	Created any
	// Execute runs the work here; emit, when streaming, sends each event
	// (nil otherwise).
	Execute func(ctx context.Context, emit func(event events.Type, data any)) (T, error)
	// Done gives how the work ended: its final event (streaming) and its
	// body.
	Done func(out T) (event events.Type, body any)
	// When Execute fails: without a stream an error of FailStatus with
	// FailMessage; streaming, the event StreamFailed gives.
	FailStatus   int
	FailMessage  string
	StreamFailed func() (event events.Type, data any)
}

// Response is the streaming response that answers it.
func (p RunResponse[T]) Response() *huma.StreamResponse {
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		if p.Queued {
			hctx.SetHeader("Location", p.Location)
			writeJSON(hctx, http.StatusAccepted, p.QueuedBody)
			return
		}
		if !p.Stream {
			out, err := p.Execute(hctx.Context(), nil)
			if err != nil {
				_ = huma.WriteErr(p.API, hctx, p.FailStatus, p.FailMessage, err)
				return
			}
			_, body := p.Done(out)
			writeJSON(hctx, http.StatusOK, body)
			return
		}
		sse := StartSSE(hctx)
		_ = sse.Send("run.created", p.Created)
		out, err := p.Execute(hctx.Context(), func(event events.Type, data any) { _ = sse.Send(event, data) })
		if err != nil {
			_ = sse.Send(p.StreamFailed())
			return
		}
		_ = sse.Send(p.Done(out))
	}}
}

func writeJSON(hctx huma.Context, status int, body any) {
	hctx.SetHeader("Content-Type", "application/json")
	hctx.SetStatus(status)
	_ = json.NewEncoder(hctx.BodyWriter()).Encode(body)
}
