package run_test

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/app/apptest"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

// collector is an OTLP/HTTP traces endpoint that decodes what it receives.
type collector struct {
	mu      sync.Mutex
	spans   map[string]string // name -> trace id
	service string
	auth    string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var req coltrace.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(b, &req) != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.auth = r.Header.Get("Authorization")
	for _, rs := range req.ResourceSpans {
		for _, kv := range rs.Resource.GetAttributes() {
			if kv.Key == "service.name" {
				c.service = kv.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				c.spans[s.Name] = hex.EncodeToString(s.TraceId)
			}
		}
	}
	resp, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

// With OTEL_EXPORTER_OTLP_ENDPOINT set, a run's trace reaches the collector
// in the OTLP wire format, flushed at shutdown at the latest.
func TestRunTraceIsExportedOverOTLP(t *testing.T) {
	t.Parallel()
	col := &collector{spans: map[string]string{}}
	srv := httptest.NewServer(col)
	defer srv.Close()
	model := llmtest.New(llmtest.Call(llm.ToolCall{ID: "c1", Name: "current_time", Arguments: []byte(`{}`)}), llmtest.Say("Noon."))
	b := apptest.New(t, config.SQLite, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL, "OTEL_SERVICE_NAME": "pulse-test",
		"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20collector-key"}, app.Options{Models: map[string]llm.Provider{"openai": model}})
	u := b.NewUser(t)
	created := apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: u.Token, ExpectedStatus: 201,
		Body: `{"name":"Clock","instructions":"x","model":"openai/gpt-test","tools":[{"type":"builtin","name":"current_time"}]}`}.Test(t, b.H)
	apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + gjson.Get(created.Body, "id").String() + "/runs", Auth: u.Token,
		Body: `{"input":"time?"}`, ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "succeeded"}}.Test(t, b.H)
	b.App.Close()

	col.mu.Lock()
	defer col.mu.Unlock()
	require.Equal(t, "pulse-test", col.service)
	require.Equal(t, "Bearer collector-key", col.auth)
	root, ok := col.spans["run Clock"]
	require.True(t, ok, "spans: %v", col.spans)
	for _, name := range []string{"model openai/gpt-test", "tool current_time"} {
		require.Equal(t, root, col.spans[name], "%s is in the run's trace", name)
	}
}
