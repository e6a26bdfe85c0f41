package providerkey_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/app/apptest"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

func TestProviderKeys(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		var mu sync.Mutex
		var usedKeys []string
		factory := func(provider, key, baseURL string, _ *http.Client) (llm.Provider, error) {
			mu.Lock()
			usedKeys = append(usedKeys, key)
			mu.Unlock()
			return llmtest.New(llmtest.Say("answered with the user's own key")), nil
		}
		b := apptest.New(t, e, nil, app.Options{ProviderFactory: factory,
			Models: map[string]llm.Provider{"openai": llmtest.New(llmtest.Say("answered with the platform key"))}})
		alice, bob := b.NewUser(t), b.NewUser(t)

		res := apitest.Scenario{Method: "POST", Path: "/api/v1/provider-keys", Auth: alice.Token, Body: `{"provider":"openai","key":"sk-alice-secret-1234","label":"mine"}`,
			ExpectedStatus: 201, ExpectedJSON: map[string]any{"provider": "openai", "key": "…1234", "label": "mine"}, NotExpected: []string{"alice-secret"}}.Test(t, b.H)
		var k struct{ ID string }
		require.NoError(t, json.Unmarshal([]byte(res.Body), &k))

		var stored string
		require.NoError(t, b.App.DB().R.NewSelect().Table("provider_keys").Column("key_enc").Scan(context.Background(), &stored))
		require.False(t, strings.Contains(stored, "alice-secret"), "encrypted at rest")

		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "listed masked", Method: "GET", Path: "/api/v1/provider-keys", Auth: alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 1, "items.0.key": "…1234"}, NotExpected: []string{"alice-secret"}},
			{Name: "one per provider", Method: "POST", Path: "/api/v1/provider-keys", Auth: alice.Token, Body: `{"provider":"openai","key":"sk-another-5678"}`, ExpectedStatus: 409},
			{Name: "unknown provider", Method: "POST", Path: "/api/v1/provider-keys", Auth: alice.Token, Body: `{"provider":"skynet","key":"sk-xxxxxxxx"}`, ExpectedStatus: 422},
			{Name: "too short", Method: "POST", Path: "/api/v1/provider-keys", Auth: alice.Token, Body: `{"provider":"anthropic","key":"short"}`, ExpectedStatus: 422},
			{Name: "bad base url", Method: "POST", Path: "/api/v1/provider-keys", Auth: alice.Token, Body: `{"provider":"ollama","key":"sk-xxxxxxxx","base_url":"file:///etc"}`, ExpectedStatus: 422},
			{Name: "zoned base url", Method: "POST", Path: "/api/v1/provider-keys", Auth: alice.Token, Body: `{"provider":"ollama","key":"sk-xxxxxxxx","base_url":"http://[::%25lo]:11434"}`,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.base_url"}, ExpectedContent: []string{"public address"}},
			{Name: "localhost base url", Method: "POST", Path: "/api/v1/provider-keys", Auth: alice.Token, Body: `{"provider":"ollama","key":"sk-xxxxxxxx","base_url":"http://localhost:11434"}`,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.base_url"}},
			{Name: "metadata base url", Method: "POST", Path: "/api/v1/provider-keys", Auth: alice.Token, Body: `{"provider":"ollama","key":"sk-xxxxxxxx","base_url":"http://0xa9.254.169.254"}`,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.base_url"}},
			{Name: "bob sees none", Method: "GET", Path: "/api/v1/provider-keys", Auth: bob.Token, ExpectedStatus: 200, ExpectedJSON: map[string]any{"items.#": 0}},
			{Name: "bob cannot delete alice's", Method: "DELETE", Path: "/api/v1/provider-keys/" + k.ID, Auth: bob.Token, ExpectedStatus: 404},
		})

		// Alice's runs use her key; Bob's use the platform's.
		agent := func(token string) string {
			res := apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: token, ExpectedStatus: 201,
				Body: `{"name":"A","instructions":"x","model":"openai/gpt-test"}`}.Test(t, b.H)
			var a struct{ ID string }
			require.NoError(t, json.Unmarshal([]byte(res.Body), &a))
			return a.ID
		}
		apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agent(alice.Token) + "/runs", Auth: alice.Token, Body: `{"input":"hi"}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"output": "answered with the user's own key"}}.Test(t, b.H)
		require.Equal(t, []string{"sk-alice-secret-1234"}, usedKeys)
		apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agent(bob.Token) + "/runs", Auth: bob.Token, Body: `{"input":"hi"}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"output": "answered with the platform key"}}.Test(t, b.H)

		// A key rotation re-encrypts it, and it still works.
		_, _, _, err := b.App.RotateKeys(context.Background())
		require.NoError(t, err)
		var rotated string
		require.NoError(t, b.App.DB().R.NewSelect().Table("provider_keys").Column("key_enc").Scan(context.Background(), &rotated))
		require.NotEqual(t, stored, rotated)
		apitest.Scenario{Method: "POST", Path: "/api/v1/agents/" + agent(alice.Token) + "/runs", Auth: alice.Token, Body: `{"input":"hi"}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"output": "answered with the user's own key"}}.Test(t, b.H)
		require.Equal(t, []string{"sk-alice-secret-1234", "sk-alice-secret-1234"}, usedKeys)

		apitest.Scenario{Method: "DELETE", Path: "/api/v1/provider-keys/" + k.ID, Auth: alice.Token, ExpectedStatus: 204}.Test(t, b.H)
	})
}
