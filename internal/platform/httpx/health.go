package httpx

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// Check is one readiness condition. Fn returns nil when healthy. /readyz is
// public, so what it shows of a failure is chosen, never a driver's text
// (which can carry host names, user names or addresses): an Unready error's
// own words, a timeout as "timeout", and anything else as Down (default
// "failing"). The underlying error goes to the log.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
	Down string // state shown for an error that is not an Unready
}

// Unready is a readiness failure whose text is safe to show on /readyz,
// such as "3 migrations pending: run pulse migrate up".
type Unready string

func (u Unready) Error() string { return string(u) }

// State values /readyz reports besides an Unready's text.
const (
	StateOK      = "ok"
	StateTimeout = "timeout"
	StateFailing = "failing"
)

// state is what /readyz shows for a check's result.
func (c Check) state(ctx context.Context, err error) string {
	var u Unready
	switch {
	case err == nil:
		return StateOK
	case errors.As(err, &u):
		return string(u)
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil:
		return StateTimeout
	case c.Down != "":
		return c.Down
	}
	return StateFailing
}

type healthOutput struct {
	Body struct {
		Status string `json:"status" example:"ok"`
	}
}

type readyOutput struct {
	Status int
	Body   struct {
		Status string            `json:"status" enum:"ready,unavailable" doc:"ready when every check passes"`
		Checks map[string]string `json:"checks" doc:"each check's state: ok, timeout, or a short reason such as unreachable or not running (never a driver's error text)"`
	}
}

// registerHealth adds /healthz (the process answers) and /readyz (it can do
// useful work: every check passes). Checks run concurrently, bounded by a
// timeout so a hung dependency reads as a failure, not a hung probe.
func registerHealth(api huma.API, log *slog.Logger, checks []Check) {
	huma.Register(api, huma.Operation{
		OperationID: "healthz", Method: http.MethodGet, Path: "/healthz", Tags: []string{"Operations"}, Security: Public,
		Summary: "Liveness: the process is up",
	}, func(ctx context.Context, _ *struct{}) (*healthOutput, error) {
		out := &healthOutput{}
		out.Body.Status = "ok"
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "readyz", Method: http.MethodGet, Path: "/readyz", Tags: []string{"Operations"}, Security: Public,
		Summary:     "Readiness: database reachable, migrations current, queue running",
		Description: "200 when every check passes; 503 with the failing checks' reasons otherwise.",
		Responses:   map[string]*huma.Response{"503": {Description: "Not ready; the body says why"}},
	}, func(ctx context.Context, _ *struct{}) (*readyOutput, error) {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		out := &readyOutput{Status: http.StatusOK}
		out.Body.Status = "ready"
		out.Body.Checks = make(map[string]string, len(checks))
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, c := range checks {
			wg.Go(func() {
				err := c.Fn(ctx)
				res := c.state(ctx, err)
				if err != nil {
					log.LogAttrs(ctx, slog.LevelWarn, "readiness check failed", slog.String("check", c.Name), slog.String("err", err.Error()))
				}
				mu.Lock()
				defer mu.Unlock()
				out.Body.Checks[c.Name] = res
				if res != StateOK {
					out.Status = http.StatusServiceUnavailable
					out.Body.Status = "unavailable"
				}
			})
		}
		wg.Wait()
		return out, nil
	})
}
