package auth_test

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

var cheapHash = auth.HashParams{MemoryKiB: 64, Time: 1, Threads: 1}

type testBundle struct {
	app *app.App
	h   http.Handler
}

func setup(t testing.TB, e config.Engine, env map[string]string) *testBundle {
	t.Helper()
	return setupWith(t, e, env, app.Options{})
}

func setupWith(t testing.TB, e config.Engine, env map[string]string, opts app.Options) *testBundle {
	t.Helper()
	vars := map[string]string{
		"PULSE_DATA_DIR":     t.TempDir(),
		"DATABASE_URL":       dbtest.DatabaseURL(t, e),
		"PULSE_SECRET_KEY":   "auth-test-secret-0123456789abcdef0123",
		"PULSE_DB_MAX_CONNS": "4",
		"PULSE_LOG_LEVEL":    "warn",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Register(nil).Load(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	require.NoError(t, err)
	opts.HashParams = &cheapHash
	var logs io.Writer = io.Discard
	if os.Getenv("PULSE_TEST_LOG") != "" {
		logs = os.Stderr // see what the server logged
	}
	a, err := app.New(context.Background(), cfg, logging.New(logs, "warn", "json"), opts)
	require.NoError(t, err)
	t.Cleanup(a.Close)
	require.NoError(t, a.Start(context.Background()))
	return &testBundle{app: a, h: a.Handler()}
}

const password = "correct horse battery"

func uniqueEmail() string { return "u" + ids.New()[24:] + "@example.com" }

// register creates an account and returns its email.
func (b *testBundle) register(t *testing.T) string {
	t.Helper()
	email := uniqueEmail()
	apitest.Scenario{Method: "POST", Path: "/api/v1/auth/register",
		Body: `{"email":"` + email + `","password":"` + password + `"}`, ExpectedStatus: 201}.Test(t, b.h)
	return email
}

// admin creates an admin the way an operator would (the CLI) and signs in.
func (b *testBundle) admin(t *testing.T) *auth.Tokens {
	t.Helper()
	email := uniqueEmail()
	_, err := b.app.Auth().CreateUser(context.Background(), auth.RegisterParams{Email: email, Password: password, Role: "admin"})
	require.NoError(t, err)
	return b.login(t, email, password)
}

func (b *testBundle) tokenRequest(t *testing.T, form url.Values) apitest.Response {
	t.Helper()
	return apitest.Scenario{Method: "POST", Path: "/api/v1/auth/token",
		Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, Body: form.Encode()}.Do(b.h)
}

func (b *testBundle) login(t *testing.T, email, pw string) *auth.Tokens {
	t.Helper()
	res := b.tokenRequest(t, url.Values{"grant_type": {"password"}, "username": {email}, "password": {pw}})
	require.Equal(t, 200, res.Status, res.Body)
	var tok auth.Tokens
	require.NoError(t, json.Unmarshal([]byte(res.Body), &tok))
	return &tok
}

func (b *testBundle) refresh(t *testing.T, refresh string) apitest.Response {
	t.Helper()
	return b.tokenRequest(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
}

func (b *testBundle) status(t *testing.T, method, path, token, body string) int {
	t.Helper()
	return apitest.Scenario{Method: method, Path: path, Auth: token, Body: body}.Do(b.h).Status
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(body), &v))
	return v
}

func testRedisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("PULSE_TEST_REDIS_URL")
	if u == "" {
		t.Skip("PULSE_TEST_REDIS_URL is not set")
	}
	return u
}
