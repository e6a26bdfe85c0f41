package agent_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/app/apptest"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

// BenchmarkListAgents is one authenticated GET /api/v1/agents?limit=20 of a
// user with 50 agents, through the whole stack, on SQLite.
func BenchmarkListAgents(b *testing.B) {
	bundle := apptest.New(b, config.SQLite, nil, app.Options{})
	u := bundle.NewUser(b)
	for i := range 50 {
		apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: u.Token, ExpectedStatus: 201,
			Body: fmt.Sprintf(`{"name":"Agent %d","instructions":"Help.","model":"openai/gpt-4o-mini","tools":[{"type":"builtin","name":"current_time"}],"tags":["bench"]}`, i)}.Test(b, bundle.H)
	}
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/agents?limit=20", nil)
		req.Header.Set("Authorization", "Bearer "+u.Token)
		rec := httptest.NewRecorder()
		bundle.H.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Body.String())
		}
	}
}
