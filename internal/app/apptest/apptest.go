// Package apptest builds the whole application for feature tests: real
// router, real database (either engine), and helpers to sign users in over
// HTTP, so each feature's tests start from a signed-in user in one line.
package apptest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/auth"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/platform/logging"
)

// Bundle is a running application.
type Bundle struct {
	App *app.App
	H   http.Handler
}

// cheapHash keeps password hashing fast in tests.
var cheapHash = auth.HashParams{MemoryKiB: 64, Time: 1, Threads: 1}

// New builds the app on engine e. env adds or overrides variables.
func New(t testing.TB, e config.Engine, env map[string]string, opts app.Options) *Bundle {
	t.Helper()
	vars := map[string]string{
		"PULSE_DATA_DIR":     t.TempDir(),
		"DATABASE_URL":       dbtest.DatabaseURL(t, e),
		"PULSE_SECRET_KEY":   "apptest-secret-0123456789abcdef01234",
		"PULSE_DB_MAX_CONNS": "4",
		"PULSE_LOG_LEVEL":    "warn",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Register(nil).Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	require.NoError(t, err)
	var logs io.Writer = io.Discard
	if os.Getenv("PULSE_TEST_LOG") != "" {
		logs = os.Stderr
	}
	if opts.HashParams == nil {
		opts.HashParams = &cheapHash
	}
	a, err := app.New(context.Background(), cfg, logging.New(logs, "warn", "json"), opts)
	require.NoError(t, err)
	t.Cleanup(a.Close)
	// The background components (events, cancel relays, leases), without
	// the queue: tests start it with StartQueue when they want jobs worked.
	require.NoError(t, a.Start(context.Background()))
	return &Bundle{App: a, H: a.Handler()}
}

// User is a signed-in test user.
type User struct {
	ID    string
	Email string
	Token string
}

// NewUser registers an account over HTTP and signs it in.
func (b *Bundle) NewUser(t testing.TB) User {
	t.Helper()
	email := "u" + ids.New()[24:] + "@example.com"
	const pw = "correct horse battery"
	apitest.Scenario{Method: "POST", Path: "/api/v1/auth/register", Body: `{"email":"` + email + `","password":"` + pw + `"}`, ExpectedStatus: 201}.Test(t, b.H)
	res := apitest.Scenario{Method: "POST", Path: "/api/v1/auth/token", Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		Body: url.Values{"grant_type": {"password"}, "username": {email}, "password": {pw}}.Encode(), ExpectedStatus: 200}.Test(t, b.H)
	var tok auth.Tokens
	require.NoError(t, json.Unmarshal([]byte(res.Body), &tok))
	me := apitest.Scenario{Method: "GET", Path: "/api/v1/users/me", Auth: tok.AccessToken, ExpectedStatus: 200}.Test(t, b.H)
	var u struct{ ID string }
	require.NoError(t, json.Unmarshal([]byte(me.Body), &u))
	return User{ID: u.ID, Email: email, Token: tok.AccessToken}
}

// APIKey creates an API key for u over HTTP with the given scopes and
// returns its secret.
func (b *Bundle) APIKey(t testing.TB, u User, scopes ...string) string {
	t.Helper()
	body, err := json.Marshal(map[string]any{"name": "test key", "scopes": scopes})
	require.NoError(t, err)
	res := apitest.Scenario{Method: "POST", Path: "/api/v1/api-keys", Auth: u.Token, Body: string(body), ExpectedStatus: 201}.Test(t, b.H)
	var k struct{ Key string }
	require.NoError(t, json.Unmarshal([]byte(res.Body), &k))
	require.NotEmpty(t, k.Key)
	return k.Key
}
