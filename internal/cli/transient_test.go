package cli_test

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
)

// Finding 5, against a real `pulse serve` with its real OpenAI provider:
// 20 background runs at once while the provider resets the first
// connection of every request (a TCP RST: "connection reset by peer").
// Half the runs are of an agent whose model resets every connection: they
// fall back to the next model of the chain once its retries run out.
// Every run succeeds on its first attempt, and each model step's trace
// records the retries with their class, and the fallback.
func TestFinding5BackgroundRunsSurviveConnectionResets(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		var mu sync.Mutex
		seen := map[[32]byte]bool{}
		wire := llmtest.NewWire(func(_ int, model string, body []byte) llmtest.Fault {
			mu.Lock()
			defer mu.Unlock()
			if model == "gpt-flaky" {
				return llmtest.Reset
			}
			k := sha256.Sum256(body)
			if !seen[k] {
				seen[k] = true
				return llmtest.Reset // the first try of each request
			}
			return llmtest.Answer
		})
		defer wire.Close()
		env := map[string]string{
			"PULSE_ADDR": "127.0.0.1:0", "PULSE_DATA_DIR": t.TempDir(), "DATABASE_URL": dbtest.DatabaseURL(t, e),
			"PULSE_SECRET_KEY": "transient-test-secret-0123456789abcdef", "PULSE_TEST_REAL_PROVIDERS": "1",
			"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": wire.URL + "/v1", "PULSE_OUTBOUND_ALLOW": "127.0.0.0/8",
		}
		c := startChild(t, t.TempDir(), env, "serve")
		c.drain()
		defer func() {
			if t.Failed() {
				t.Log(c.logged())
			}
		}()
		a := signUp(t, c.base)
		var agent, flaky struct{ ID string }
		require.Equal(t, 201, a.do("POST", "/api/v1/agents", `{"name":"Greeter","instructions":"Greet.","model":"openai/gpt-test"}`, &agent))
		require.Equal(t, 201, a.do("POST", "/api/v1/agents", `{"name":"Flaky","instructions":"Greet.","model":"openai/gpt-flaky",
			"model_settings":{"fallbacks":["openai/gpt-test"]}}`, &flaky), "an agent whose model always resets")

		const n = 20
		ids := make([]string, n)
		for i := range ids {
			var r runView
			target := agent.ID
			if i%2 == 1 {
				target = flaky.ID
			}
			require.Equal(t, 202, a.do("POST", "/api/v1/agents/"+target+"/runs", fmt.Sprintf(`{"input":"hello %d","background":true}`, i), &r))
			ids[i] = r.ID
		}
		succeeded := 0
		deadline := time.Now().Add(60 * time.Second)
		for i, id := range ids {
			var r runView
			for time.Now().Before(deadline) {
				a.do("GET", "/api/v1/runs/"+id, "", &r)
				if r.Status == "succeeded" || r.Status == "failed" {
					break
				}
				time.Sleep(50 * time.Millisecond) // polling with a deadline
			}
			require.Equal(t, "succeeded", r.Status, "run %s: %+v", id, r)
			require.Equal(t, 1, r.Attempt, "retried in the provider layer, not by requeueing the run")
			succeeded++
			var steps struct {
				Items []json.RawMessage `json:"items"`
			}
			require.Equal(t, 200, a.do("GET", "/api/v1/runs/"+id+"/steps", "", &steps))
			if i%2 == 1 {
				// The flaky model: three attempts reset, then the fallback.
				require.Len(t, steps.Items, 2)
				st := gjson.ParseBytes(steps.Items[0])
				require.Equal(t, "openai/gpt-flaky", st.Get("name").String())
				require.Equal(t, "failed", st.Get("status").String())
				require.Equal(t, "transport", st.Get("output.error_class").String(), string(steps.Items[0]))
				require.Equal(t, []any{"transport", "transport"}, st.Get("output.retries.#.class").Value())
				fb := gjson.ParseBytes(steps.Items[1])
				require.Equal(t, "openai/gpt-test", fb.Get("name").String())
				require.Equal(t, "openai/gpt-flaky", fb.Get("input.fallback_from").String(), string(steps.Items[1]))
				require.Equal(t, "transport", fb.Get("input.fallback_class").String())
				steps.Items = steps.Items[1:]
			}
			require.Len(t, steps.Items, 1)
			out := string(steps.Items[0])
			st := gjson.ParseBytes(steps.Items[0])
			require.Equal(t, "openai/gpt-test", st.Get("name").String())
			require.Equal(t, "succeeded", st.Get("status").String())
			require.Len(t, st.Get("output.retries").Array(), 1, out)
			require.Equal(t, "transport", st.Get("output.retries.0.class").String())
			require.Contains(t, st.Get("output.retries.0.error").String(), "connection reset by peer")
		}
		require.Equal(t, n, succeeded)
		require.Equal(t, n+n/2*3, wire.Count(llmtest.Reset), "every request reset once, and the flaky model's three attempts of each run")
		t.Logf("%s: %d of %d background runs succeeded (%d through a fallback); %d of %d connections reset",
			e, succeeded, n, n/2, wire.Count(llmtest.Reset), len(wire.Faults()))
	})
}
