package httpx

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// Check is one readiness condition. Fn returns nil when healthy; its error
// text becomes the reason shown by /readyz, so it must name the problem
// without secrets.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
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
		Checks map[string]string `json:"checks" doc:"each check: ok, or why it fails"`
	}
}

// registerHealth adds /healthz (the process answers) and /readyz (it can do
// useful work: every check passes). Checks run concurrently, bounded by a
// timeout so a hung dependency reads as a failure, not a hung probe.
func registerHealth(api huma.API, checks []Check) {
	huma.Register(api, huma.Operation{
		OperationID: "healthz", Method: http.MethodGet, Path: "/healthz", Tags: []string{"Operations"},
		Summary: "Liveness: the process is up",
	}, func(ctx context.Context, _ *struct{}) (*healthOutput, error) {
		out := &healthOutput{}
		out.Body.Status = "ok"
		return out, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "readyz", Method: http.MethodGet, Path: "/readyz", Tags: []string{"Operations"},
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
				res := "ok"
				if err := c.Fn(ctx); err != nil {
					res = err.Error()
				}
				mu.Lock()
				defer mu.Unlock()
				out.Body.Checks[c.Name] = res
				if res != "ok" {
					out.Status = http.StatusServiceUnavailable
					out.Body.Status = "unavailable"
				}
			})
		}
		wg.Wait()
		return out, nil
	})
}
