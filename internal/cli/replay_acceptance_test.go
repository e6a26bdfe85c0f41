package cli_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/webhook"
)

// send makes one request to a child and returns its status and body.
func send(t *testing.T, base, method, path, token string, headers map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

// signInAgain opens a second session of the account a signed up.
func signInAgain(t *testing.T, base, email string) string {
	t.Helper()
	res, err := http.PostForm(base+"/api/v1/auth/token", url.Values{"grant_type": {"password"}, "username": {email}, "password": {"correct horse battery"}})
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&tok))
	return tok.AccessToken
}

func serveEnv(t *testing.T, e config.Engine) map[string]string {
	return map[string]string{
		"PULSE_ADDR": "127.0.0.1:0", "PULSE_DATA_DIR": t.TempDir(), "DATABASE_URL": dbtest.DatabaseURL(t, e),
		"PULSE_SECRET_KEY": "replay-test-secret-0123456789abcdef",
	}
}

// Finding 3 against a real `pulse serve`: a signed webhook call sent again
// answers 409 and starts no run. On PostgreSQL the replay goes to a second
// process, which knows the first accepted it.
func TestFinding3ReplayedWebhookStartsNoRunAgainstServe(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		env := serveEnv(t, e)
		first := startChild(t, t.TempDir(), env, "serve")
		first.drain()
		a := signUp(t, first.base)
		var wf struct{ ID string }
		require.Equal(t, 201, a.do("POST", "/api/v1/workflows", `{"name":"hook","definition":{"entry":"e","nodes":[{"id":"e","type":"transform","format":{"who":"{{ state.who }}"}}]}}`, &wf))
		var trig struct{ ID, Secret string }
		require.Equal(t, 201, a.do("POST", "/api/v1/workflows/"+wf.ID+"/triggers", `{"type":"webhook"}`, &trig))

		body := `{"who":"sender"}`
		signed := map[string]string{"Pulse-Signature": webhook.Sign([]byte(trig.Secret), time.Now(), []byte(body))}
		hook := "/api/v1/hooks/workflow-triggers/" + trig.ID
		status, out := send(t, first.base, "POST", hook, "", signed, body)
		require.Equal(t, 202, status, out)

		replayTo := first.base
		if e == config.Postgres {
			second := startChild(t, t.TempDir(), env, "serve")
			second.drain()
			replayTo = second.base
		}
		status, out = send(t, replayTo, "POST", hook, "", signed, body)
		require.Equal(t, 409, status, out)
		require.Equal(t, "webhook_replayed", gjson.Get(out, "code").String(), out)

		var runs struct {
			Items []struct{ ID string } `json:"items"`
		}
		require.Equal(t, 200, a.do("GET", "/api/v1/workflows/"+wf.ID+"/runs", "", &runs))
		require.Len(t, runs.Items, 1, "the replay started no run")
	})
}

// Finding 4 against a real `pulse serve`: an API key created with an
// Idempotency-Key through one session is not handed to another credential
// of the same user sending the same key and body.
func TestFinding4NoSecretCrossesCredentialsAgainstServe(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		c := startChild(t, t.TempDir(), serveEnv(t, e), "serve")
		c.drain()
		a := signUp(t, c.base)
		var me struct{ Email string }
		require.Equal(t, 200, a.do("GET", "/api/v1/users/me", "", &me))

		idem := map[string]string{"Idempotency-Key": "create-ci-key"}
		mint := `{"name":"ci","scopes":["read","write"]}`
		status, out := send(t, c.base, "POST", "/api/v1/api-keys", a.token, idem, mint)
		require.Equal(t, 201, status, out)
		secret := gjson.Get(out, "key").String()
		require.NotEmpty(t, secret)

		// The same session retrying gets its own answer back.
		status, again := send(t, c.base, "POST", "/api/v1/api-keys", a.token, idem, mint)
		require.Equal(t, 201, status, again)
		require.Equal(t, secret, gjson.Get(again, "key").String())

		// A second session of the same user.
		status, out = send(t, c.base, "POST", "/api/v1/api-keys", signInAgain(t, c.base, me.Email), idem, mint)
		require.Equal(t, 201, status, out)
		require.NotContains(t, out, secret)

		// Another API key of the same user, with write scope.
		var other struct{ Key string }
		require.Equal(t, 201, a.do("POST", "/api/v1/api-keys", `{"name":"writer","scopes":["read","write"]}`, &other))
		status, out = send(t, c.base, "POST", "/api/v1/api-keys", other.Key, idem, mint)
		require.Equal(t, 403, status, out)
		require.NotContains(t, out, secret)
	})
}
