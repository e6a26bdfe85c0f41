package workflow_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

// An http node URL that can never be public is refused when the workflow
// is saved, at its field, map bodies included; an operator's allow-list
// admits it.
func TestHTTPNodeURLsCheckedAtSave(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil, app.Options{})
		def := func(url string) string {
			return `{"name":"f","definition":{"entry":"h","nodes":[{"id":"h","type":"http","url":"` + url + `","output_key":"r"}]}}`
		}
		for _, url := range []string{"http://[::%25lo]:8080/", "http://[::%251]:8080/", "http://[fe80::1%25eth0]/", "http://2130706433/",
			"http://0177.0.0.1/", "http://0x7f.1/", "http://127.1/", "http://[::]/", "http://[::ffff:127.0.0.1]/", "http://localhost/",
			"http://api.localhost/x", "http://169.254.169.254/latest/", "http://[fd00:ec2::254]/", "http://168.63.129.16/",
			"http://10.0.0.5/{{ state.path }}", "http://[::%25lo]:{{ state.port }}/"} {
			apitest.Scenario{Name: url, Method: "POST", Path: "/api/v1/workflows", Auth: b.alice.Token, Body: def(url), ExpectedStatus: 422,
				ExpectedJSON: map[string]any{"errors.#": 1, "errors.0.location": "body.definition.nodes[0].url"}}.Test(t, b.H)
		}
		// Inside a map's graph, at its own path.
		apitest.Scenario{Method: "POST", Path: "/api/v1/workflows", Auth: b.alice.Token, ExpectedStatus: 422,
			Body: `{"name":"m","definition":{"entry":"m","nodes":[{"id":"m","type":"map","items":"[1]","output_key":"o",
			  "graph":{"entry":"h","nodes":[{"id":"h","type":"http","url":"http://[::1]/","output_key":"r"}]}}]}}`,
			ExpectedJSON: map[string]any{"errors.0.location": "body.definition.nodes[0].graph.nodes[0].url"}}.Test(t, b.H)
		// Public URLs and hosts computed at run time are saved.
		for _, url := range []string{"https://api.example.com/v1", "http://{{ state.host }}/", "https://example.com/{{ state.path }}"} {
			apitest.Scenario{Name: url, Method: "POST", Path: "/api/v1/workflows", Auth: b.alice.Token, Body: def(url), ExpectedStatus: 201}.Test(t, b.H)
		}
		allowed := setup(t, e, map[string]string{"PULSE_OUTBOUND_ALLOW": "127.0.0.1/32,localhost"}, app.Options{})
		for _, url := range []string{"http://127.0.0.1:8080/", "http://localhost:9/"} {
			apitest.Scenario{Name: url, Method: "POST", Path: "/api/v1/workflows", Auth: allowed.alice.Token, Body: def(url), ExpectedStatus: 201}.Test(t, allowed.H)
		}
	})
}

// TestFinding13HTTPNodeErrorsHideResolvedAddresses is issue 13 (smaller
// ones): errors from http nodes never include resolved internal
// addresses; the run records a refusal naming only the host given, and the
// local service gets no request.
func TestFinding13HTTPNodeErrorsHideResolvedAddresses(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	b := setup(t, config.SQLite, nil, app.Options{})
	wf := b.create(t, `{"entry":"h","nodes":[{"id":"h","type":"http","url":"http://{{ state.host }}/","output_key":"r"}]}`)
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::ffff:127.0.0.1]:" + port, "2130706433:" + port} {
		res := apitest.Scenario{Name: host, Method: "POST", Path: "/api/v1/workflows/" + wf + "/runs", Auth: b.alice.Token,
			Body: fmt.Sprintf(`{"input":{"host":%q}}`, host), ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"status": "failed", "error.node": "h"}}.Test(t, b.H)
		msg := gjson.Get(res.Body, "error.message").String()
		require.Contains(t, msg, "address is not public", msg)
		require.Contains(t, msg, host, "names the host given")
		if host == "localhost:"+port {
			require.NotContains(t, msg, "127.0.0.1", "the resolved address is hidden")
			require.NotContains(t, msg, "::1", "the resolved address is hidden")
		}
	}
	require.Zero(t, hits.Load())
}
