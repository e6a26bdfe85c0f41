package auth_test

import (
	"context"
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/auth"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

const problem = "application/problem+json"

func TestRegister(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		email := uniqueEmail()
		apitest.Run(t, b.h, []apitest.Scenario{
			{
				Name: "creates the account", Method: "POST", Path: "/api/v1/auth/register",
				Body:           `{"email":"  ` + strings.ToUpper(email) + `","password":"` + password + `","name":"Ada"}`,
				ExpectedStatus: 201,
				ExpectedJSON:   map[string]any{"email": email, "name": "Ada", "role": "user", "active": true, "email_verified": false, "timezone": "UTC"},
				NotExpected:    []string{"password", "argon2"},
			},
			{
				Name: "a taken email, in any case, is a conflict", Method: "POST", Path: "/api/v1/auth/register",
				Body:           `{"email":"` + strings.ToUpper(email) + `","password":"` + password + `"}`,
				ExpectedStatus: 409, ExpectedHeaders: map[string]string{"Content-Type": problem}, ExpectedJSON: map[string]any{"code": "conflict"},
			},
			{
				Name: "invalid email", Method: "POST", Path: "/api/v1/auth/register",
				Body:           `{"email":"not-an-email","password":"` + password + `"}`,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.email"},
			},
			{
				Name: "email with a display name", Method: "POST", Path: "/api/v1/auth/register",
				Body:           `{"email":"Ada <ada@example.com>","password":"` + password + `"}`,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.email"},
			},
			{
				Name: "short password", Method: "POST", Path: "/api/v1/auth/register",
				Body:           `{"email":"` + uniqueEmail() + `","password":"123456789"}`,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.password"},
			},
			{
				Name: "password over 1,024 bytes", Method: "POST", Path: "/api/v1/auth/register",
				Body:           `{"email":"` + uniqueEmail() + `","password":"` + strings.Repeat("é", 513) + `"}`,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.password"},
			},
			{
				Name: "missing fields", Method: "POST", Path: "/api/v1/auth/register", Body: `{}`,
				ExpectedStatus: 422, ExpectedContent: []string{`"location":"body.email"`, `"location":"body.password"`},
			},
			{
				Name: "malformed JSON", Method: "POST", Path: "/api/v1/auth/register", Body: `{"email":`,
				ExpectedStatus: 400, ExpectedHeaders: map[string]string{"Content-Type": problem},
			},
		})
	})
}

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		email := b.register(t)

		res := b.tokenRequest(t, url.Values{"grant_type": {"password"}, "username": {strings.ToUpper(email)}, "password": {password}})
		require.Equal(t, 200, res.Status, res.Body)
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		tok := decode[auth.Tokens](t, res.Body)
		require.Equal(t, "bearer", tok.TokenType)
		require.Equal(t, 900, tok.ExpiresIn)
		require.NotEmpty(t, tok.RefreshToken)
		require.Equal(t, 3, strings.Count(tok.AccessToken, ".")+1, "a JWT")

		// JSON is accepted too.
		apitest.Scenario{Method: "POST", Path: "/api/v1/auth/token",
			Body:           `{"grant_type":"password","username":"` + email + `","password":"` + password + `"}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"token_type": "bearer"}}.Test(t, b.h)

		// Wrong password and unknown account: the same answer.
		wrong := b.tokenRequest(t, url.Values{"grant_type": {"password"}, "username": {email}, "password": {"wrong password!"}})
		unknown := b.tokenRequest(t, url.Values{"grant_type": {"password"}, "username": {uniqueEmail()}, "password": {password}})
		require.Equal(t, 401, wrong.Status)
		require.Equal(t, 401, unknown.Status)
		strip := func(s string) string { return s[:strings.Index(s, `"instance"`)] }
		require.Equal(t, strip(wrong.Body), strip(unknown.Body))

		apitest.Run(t, b.h, []apitest.Scenario{
			{Name: "unknown grant", Method: "POST", Path: "/api/v1/auth/token", Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
				Body: "grant_type=client_credentials", ExpectedStatus: 400, ExpectedJSON: map[string]any{"code": "bad_request"}},
			{Name: "unsupported media type", Method: "POST", Path: "/api/v1/auth/token", Headers: map[string]string{"Content-Type": "text/plain"},
				Body: "grant_type=password", ExpectedStatus: 415, ExpectedHeaders: map[string]string{"Content-Type": problem}},
			{Name: "malformed JSON", Method: "POST", Path: "/api/v1/auth/token", Body: `{"grant_type":`, ExpectedStatus: 400},
			{Name: "garbage refresh token", Method: "POST", Path: "/api/v1/auth/token", Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
				Body: "grant_type=refresh_token&refresh_token=nope", ExpectedStatus: 401},
			{Name: "oversized body", Method: "POST", Path: "/api/v1/auth/token", Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
				Body: "grant_type=password&password=" + strings.Repeat("x", 2<<20), ExpectedStatus: 413},
		})
	})
}

func TestAccessTokens(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		email := b.register(t)
		tok := b.login(t, email, password)

		apitest.Scenario{Method: "GET", Path: "/api/v1/users/me", Auth: tok.AccessToken, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"email": email}}.Test(t, b.h)

		parts := strings.Split(tok.AccessToken, ".")
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		require.NoError(t, err)
		forged := strings.Replace(string(payload), `"roles":["user"]`, `"roles":["admin"]`, 1)
		require.NotEqual(t, string(payload), forged)
		tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]
		none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."

		apitest.Run(t, b.h, []apitest.Scenario{
			{Name: "no credentials", Method: "GET", Path: "/api/v1/users/me", ExpectedStatus: 401, ExpectedJSON: map[string]any{"code": "unauthenticated"}},
			{Name: "tampered payload", Method: "GET", Path: "/api/v1/users/me", Auth: tampered, ExpectedStatus: 401,
				ExpectedHeaders: map[string]string{"WWW-Authenticate": `Bearer realm="pulse", error="invalid_token"`}},
			{Name: "alg none", Method: "GET", Path: "/api/v1/users/me", Auth: none, ExpectedStatus: 401},
			{Name: "garbage", Method: "GET", Path: "/api/v1/users/me", Auth: "not.a.jwt", ExpectedStatus: 401},
			{Name: "wrong scheme", Method: "GET", Path: "/api/v1/users/me", Headers: map[string]string{"Authorization": "Basic dTpw"}, ExpectedStatus: 401},
			{Name: "admin endpoint as user", Method: "GET", Path: "/api/v1/admin/users", Auth: tok.AccessToken, ExpectedStatus: 403},
		})

		// The token names its signing key, published in the JWKS.
		header, _ := base64.RawURLEncoding.DecodeString(parts[0])
		jwks := apitest.Scenario{Method: "GET", Path: "/.well-known/jwks.json", ExpectedStatus: 200}.Test(t, b.h)
		keys := decode[struct{ Keys []auth.JWK }](t, jwks.Body).Keys
		require.Len(t, keys, 1)
		require.Contains(t, string(header), `"kid":"`+keys[0].Kid+`"`)
		require.Equal(t, "EdDSA", keys[0].Alg)
		require.Contains(t, string(header), `"alg":"EdDSA"`)
	})
}

func TestRefreshRotationAndLogout(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		email := b.register(t)
		first := b.login(t, email, password)

		res := b.refresh(t, first.RefreshToken)
		require.Equal(t, 200, res.Status, res.Body)
		second := decode[auth.Tokens](t, res.Body)
		require.NotEqual(t, first.RefreshToken, second.RefreshToken, "each refresh returns a new refresh token")
		require.Equal(t, 200, b.status(t, "GET", "/api/v1/users/me", second.AccessToken, ""))

		// A duplicate within the grace window gets the same successor.
		dup := decode[auth.Tokens](t, b.refresh(t, first.RefreshToken).Body)
		require.Equal(t, second.RefreshToken, dup.RefreshToken)

		// Logout: this session's access and refresh tokens stop at once.
		require.Equal(t, 204, b.status(t, "POST", "/api/v1/auth/logout", second.AccessToken, ""))
		require.Equal(t, 401, b.status(t, "GET", "/api/v1/users/me", second.AccessToken, ""))
		require.Equal(t, 401, b.status(t, "GET", "/api/v1/users/me", first.AccessToken, ""), "every token of the session")
		require.Equal(t, 401, b.refresh(t, second.RefreshToken).Status)
		require.Equal(t, 401, b.status(t, "POST", "/api/v1/auth/logout", "", ""))
	})
}

func TestSessions(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		email := b.register(t)
		laptop := b.login(t, email, password)
		phone := b.login(t, email, password)
		stranger := b.login(t, b.register(t), password)

		res := apitest.Scenario{Method: "GET", Path: "/api/v1/auth/sessions", Auth: laptop.AccessToken, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"sessions.#": 2}}.Test(t, b.h)
		list := decode[struct {
			Sessions []struct {
				ID      string
				Current bool
			}
		}](t, res.Body).Sessions
		var phoneID string
		for _, s := range list {
			if !s.Current {
				phoneID = s.ID
			}
		}
		require.NotEmpty(t, phoneID)

		require.Equal(t, 404, b.status(t, "DELETE", "/api/v1/auth/sessions/"+phoneID, stranger.AccessToken, ""), "another user's session is not found")
		require.Equal(t, 200, b.status(t, "GET", "/api/v1/users/me", phone.AccessToken, ""))
		require.Equal(t, 204, b.status(t, "DELETE", "/api/v1/auth/sessions/"+phoneID, laptop.AccessToken, ""))
		require.Equal(t, 401, b.status(t, "GET", "/api/v1/users/me", phone.AccessToken, ""))
		require.Equal(t, 401, b.refresh(t, phone.RefreshToken).Status)
		require.Equal(t, 200, b.status(t, "GET", "/api/v1/users/me", laptop.AccessToken, ""))

		require.Equal(t, 204, b.status(t, "DELETE", "/api/v1/auth/sessions", laptop.AccessToken, ""))
		require.Equal(t, 401, b.status(t, "GET", "/api/v1/users/me", laptop.AccessToken, ""))
		require.Equal(t, 200, b.status(t, "GET", "/api/v1/users/me", stranger.AccessToken, ""), "other users are untouched")
	})
}

func TestProfileAndPassword(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		email := b.register(t)
		tok := b.login(t, email, password)
		other := b.login(t, email, password)

		apitest.Run(t, b.h, []apitest.Scenario{
			{Name: "update profile", Method: "PATCH", Path: "/api/v1/users/me", Auth: tok.AccessToken,
				Body:           `{"name":"Grace","timezone":"Europe/Paris","locale":"pt-br","avatar_url":"https://img.example.com/g.png"}`,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"name": "Grace", "timezone": "Europe/Paris", "locale": "pt-BR", "avatar_url": "https://img.example.com/g.png"}},
			{Name: "bad timezone", Method: "PATCH", Path: "/api/v1/users/me", Auth: tok.AccessToken, Body: `{"timezone":"Mars/Olympus"}`,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.timezone"}},
			{Name: "bad locale", Method: "PATCH", Path: "/api/v1/users/me", Auth: tok.AccessToken, Body: `{"locale":"!!"}`,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.locale"}},
			{Name: "bad avatar", Method: "PATCH", Path: "/api/v1/users/me", Auth: tok.AccessToken, Body: `{"avatar_url":"javascript:alert(1)"}`,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.avatar_url"}},
			{Name: "profile unchanged by bad input", Method: "GET", Path: "/api/v1/users/me", Auth: tok.AccessToken,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"timezone": "Europe/Paris", "locale": "pt-BR"}},
			{Name: "wrong current password", Method: "POST", Path: "/api/v1/users/me/password", Auth: tok.AccessToken,
				Body: `{"current_password":"nope nope nope","new_password":"a brand new password"}`, ExpectedStatus: 422,
				ExpectedJSON: map[string]any{"errors.0.location": "body.current_password"}},
			{Name: "new password too short", Method: "POST", Path: "/api/v1/users/me/password", Auth: tok.AccessToken,
				Body: `{"current_password":"` + password + `","new_password":"short"}`, ExpectedStatus: 422},
			{Name: "change password", Method: "POST", Path: "/api/v1/users/me/password", Auth: tok.AccessToken,
				Body: `{"current_password":"` + password + `","new_password":"a brand new password"}`, ExpectedStatus: 204},
		})
		require.Equal(t, 200, b.status(t, "GET", "/api/v1/users/me", tok.AccessToken, ""), "this session stays")
		require.Equal(t, 401, b.status(t, "GET", "/api/v1/users/me", other.AccessToken, ""), "other sessions are signed out")
		require.Equal(t, 401, b.refresh(t, other.RefreshToken).Status)
		require.Equal(t, 401, b.tokenRequest(t, url.Values{"grant_type": {"password"}, "username": {email}, "password": {password}}).Status)
		fresh := b.login(t, email, "a brand new password")

		require.Equal(t, 204, b.status(t, "DELETE", "/api/v1/users/me", fresh.AccessToken, ""))
		require.Equal(t, 401, b.status(t, "GET", "/api/v1/users/me", fresh.AccessToken, ""))
		require.Equal(t, 401, b.status(t, "GET", "/api/v1/users/me", tok.AccessToken, ""))
		require.Equal(t, 401, b.tokenRequest(t, url.Values{"grant_type": {"password"}, "username": {email}, "password": {"a brand new password"}}).Status)
	})
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		email := b.register(t)
		tok := b.login(t, email, password)
		stranger := b.login(t, b.register(t), password)

		res := apitest.Scenario{Method: "POST", Path: "/api/v1/api-keys", Auth: tok.AccessToken, Body: `{"name":"ci","scopes":["read"]}`,
			ExpectedStatus: 201, ExpectedJSON: map[string]any{"name": "ci", "scopes": []string{"read"}}}.Test(t, b.h)
		created := decode[struct{ ID, Key, Prefix string }](t, res.Body)
		require.True(t, strings.HasPrefix(created.Key, created.Prefix+"_"), "%s / %s", created.Key, created.Prefix)

		list := apitest.Scenario{Method: "GET", Path: "/api/v1/api-keys", Auth: tok.AccessToken, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"api_keys.#": 1, "api_keys.0.prefix": created.Prefix}}.Test(t, b.h)
		require.NotContains(t, list.Body, created.Key[len(created.Prefix)+1:], "the secret is shown only once")

		apitest.Run(t, b.h, []apitest.Scenario{
			{Name: "key authenticates", Method: "GET", Path: "/api/v1/users/me", Auth: created.Key, ExpectedStatus: 200, ExpectedJSON: map[string]any{"email": email}},
			{Name: "read key cannot write", Method: "PATCH", Path: "/api/v1/users/me", Auth: created.Key, Body: `{"name":"x"}`, ExpectedStatus: 403},
			{Name: "a key cannot mint keys", Method: "POST", Path: "/api/v1/api-keys", Auth: created.Key, Body: `{"name":"x"}`, ExpectedStatus: 403},
			{Name: "admin scope needs an admin", Method: "POST", Path: "/api/v1/api-keys", Auth: tok.AccessToken, Body: `{"name":"x","scopes":["admin"]}`, ExpectedStatus: 403},
			{Name: "unknown scope", Method: "POST", Path: "/api/v1/api-keys", Auth: tok.AccessToken, Body: `{"name":"x","scopes":["root"]}`, ExpectedStatus: 422},
			{Name: "empty name", Method: "POST", Path: "/api/v1/api-keys", Auth: tok.AccessToken, Body: `{"name":" "}`, ExpectedStatus: 422},
			{Name: "wrong key", Method: "GET", Path: "/api/v1/users/me", Auth: created.Prefix + "_wrongsecret", ExpectedStatus: 401},
			{Name: "another user's key is not found", Method: "DELETE", Path: "/api/v1/api-keys/" + created.ID, Auth: stranger.AccessToken, ExpectedStatus: 404},
			{Name: "revoke", Method: "DELETE", Path: "/api/v1/api-keys/" + created.ID, Auth: tok.AccessToken, ExpectedStatus: 204},
			{Name: "revoked key stops at once", Method: "GET", Path: "/api/v1/users/me", Auth: created.Key, ExpectedStatus: 401},
			{Name: "revoke again is not found", Method: "DELETE", Path: "/api/v1/api-keys/" + created.ID, Auth: tok.AccessToken, ExpectedStatus: 404},
		})
	})
}

func TestAdmin(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		admin := b.admin(t)
		email := b.register(t)
		user := b.login(t, email, password)
		me := decode[struct{ ID string }](t, apitest.Scenario{ExpectedStatus: 200, Method: "GET", Path: "/api/v1/users/me", Auth: user.AccessToken}.Test(t, b.h).Body)
		key := decode[struct{ Key string }](t, apitest.Scenario{Method: "POST", Path: "/api/v1/api-keys", Auth: user.AccessToken,
			Body: `{"name":"k","scopes":["read","write"]}`, ExpectedStatus: 201}.Test(t, b.h).Body).Key

		apitest.Scenario{Method: "GET", Path: "/api/v1/admin/users?email=" + url.QueryEscape(email), Auth: admin.AccessToken,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"users.#": 1, "users.0.id": me.ID}}.Test(t, b.h)
		require.Equal(t, 404, b.status(t, "PATCH", "/api/v1/admin/users/nope", admin.AccessToken, `{"active":false}`))
		require.Equal(t, 422, b.status(t, "PATCH", "/api/v1/admin/users/"+me.ID, admin.AccessToken, `{"role":"root"}`))
		require.Equal(t, 403, b.status(t, "PATCH", "/api/v1/admin/users/"+me.ID, user.AccessToken, `{"role":"admin"}`))

		// Deactivation stops the user's tokens, refresh, keys and logins at once.
		apitest.Scenario{Method: "PATCH", Path: "/api/v1/admin/users/" + me.ID, Auth: admin.AccessToken, Body: `{"active":false}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"active": false}}.Test(t, b.h)
		require.Equal(t, 401, b.status(t, "GET", "/api/v1/users/me", user.AccessToken, ""))
		require.Equal(t, 401, b.status(t, "GET", "/api/v1/users/me", key, ""))
		require.Equal(t, 401, b.refresh(t, user.RefreshToken).Status)
		require.Equal(t, 401, b.tokenRequest(t, url.Values{"grant_type": {"password"}, "username": {email}, "password": {password}}).Status)

		// Reactivated, then promoted: the role is in the next token.
		require.Equal(t, 200, b.status(t, "PATCH", "/api/v1/admin/users/"+me.ID, admin.AccessToken, `{"active":true}`))
		again := b.login(t, email, password)
		require.Equal(t, 403, b.status(t, "GET", "/api/v1/admin/users", again.AccessToken, ""))
		require.Equal(t, 200, b.status(t, "PATCH", "/api/v1/admin/users/"+me.ID, admin.AccessToken, `{"role":"admin"}`))
		require.Equal(t, 401, b.status(t, "GET", "/api/v1/users/me", again.AccessToken, ""), "a role change retires current access tokens")
		promoted := decode[auth.Tokens](t, b.refresh(t, again.RefreshToken).Body)
		require.Equal(t, 200, b.status(t, "GET", "/api/v1/admin/users", promoted.AccessToken, ""))
		require.Equal(t, 409, b.status(t, "PATCH", "/api/v1/admin/users/"+me.ID, promoted.AccessToken, `{"active":false}`), "not yourself")

		// The audit log recorded it all.
		res := apitest.Scenario{Method: "GET", Path: "/api/v1/admin/audit?subject_id=" + me.ID + "&limit=100", Auth: admin.AccessToken, ExpectedStatus: 200}.Test(t, b.h)
		for _, action := range []string{"user.register", "auth.login", "api_key.create", "user.deactivate", "user.activate", "user.role_change"} {
			require.Contains(t, res.Body, `"action":"`+action+`"`)
		}
		apitest.Scenario{Method: "GET", Path: "/api/v1/admin/audit?action=auth.login&outcome=failure", Auth: admin.AccessToken,
			ExpectedStatus: 200, ExpectedContent: []string{`"reason":"deactivated"`}}.Test(t, b.h)
		require.Equal(t, 422, b.status(t, "GET", "/api/v1/admin/audit?outcome=maybe", admin.AccessToken, ""))
		_ = context.Background()
	})
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	run := func(t *testing.T, env map[string]string) {
		b := setup(t, config.SQLite, env)
		email := b.register(t)
		bad := url.Values{"grant_type": {"password"}, "username": {email}, "password": {"wrong password!"}}
		for i := range 10 {
			require.Equal(t, 401, b.tokenRequest(t, bad).Status, "attempt %d", i+1)
		}
		res := b.tokenRequest(t, bad)
		require.Equal(t, 429, res.Status, res.Body)
		require.Equal(t, problem, res.Header.Get("Content-Type"))
		require.NotEmpty(t, res.Header.Get("Retry-After"))
		require.Equal(t, "10", res.Header.Get("RateLimit-Limit"))
		require.Equal(t, "0", res.Header.Get("RateLimit-Remaining"))
		// The right password is refused too while the account is locked.
		require.Equal(t, 429, b.tokenRequest(t, url.Values{"grant_type": {"password"}, "username": {email}, "password": {password}}).Status)
		// Another account is unaffected.
		other := b.register(t)
		b.login(t, other, password)
	}
	t.Run("memory", func(t *testing.T) { t.Parallel(); run(t, nil) })
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		url := testRedisURL(t)
		run(t, map[string]string{"REDIS_URL": url, "PULSE_REDIS_PREFIX": "test:" + uniqueEmail() + ":"})
	})
}

// The email flows end to end: the real queue delivers through the log
// mailer into the outbox folder, and the links work over HTTP.
func TestEmailFlowsOverHTTP(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		dataDir := t.TempDir()
		b := setup(t, e, map[string]string{"PULSE_DATA_DIR": dataDir, "PULSE_APP_URL": "https://app.example.com"})
		require.NoError(t, b.app.StartQueue(context.Background()))
		email := b.register(t)
		link := waitForMail(t, dataDir, email, "verify-email")

		apitest.Run(t, b.h, []apitest.Scenario{
			{Name: "bad token", Method: "POST", Path: "/api/v1/auth/verify", Body: `{"token":"nope"}`, ExpectedStatus: 422,
				ExpectedJSON: map[string]any{"errors.0.location": "body.token"}},
			{Name: "verify", Method: "POST", Path: "/api/v1/auth/verify", Body: `{"token":"` + link + `"}`, ExpectedStatus: 204},
			{Name: "replay", Method: "POST", Path: "/api/v1/auth/verify", Body: `{"token":"` + link + `"}`, ExpectedStatus: 422},
			{Name: "unknown email gets the same 202", Method: "POST", Path: "/api/v1/auth/password/forgot", Body: `{"email":"nobody@example.com"}`, ExpectedStatus: 202},
			{Name: "forgot", Method: "POST", Path: "/api/v1/auth/password/forgot", Body: `{"email":"` + email + `"}`, ExpectedStatus: 202},
			{Name: "forgot needs an email", Method: "POST", Path: "/api/v1/auth/password/forgot", Body: `{}`, ExpectedStatus: 422},
		})
		tok := b.login(t, email, password)
		apitest.Scenario{Method: "GET", Path: "/api/v1/users/me", Auth: tok.AccessToken, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"email_verified": true}}.Test(t, b.h)

		reset := waitForMail(t, dataDir, email, "reset-password")
		require.Equal(t, 204, b.status(t, "POST", "/api/v1/auth/password/reset", "", `{"token":"`+reset+`","new_password":"a brand new password"}`))
		require.Equal(t, 401, b.status(t, "GET", "/api/v1/users/me", tok.AccessToken, ""))
		b.login(t, email, "a brand new password")
	})
}

var mailLink = regexp.MustCompile(`https://app\.example\.com/(verify-email|reset-password)\?token=([A-Za-z0-9_-]+)`)

// waitForMail polls the outbox folder for a message to `to` with a link of
// the given kind and returns its token.
func waitForMail(t *testing.T, dataDir, to, kind string) string {
	t.Helper()
	var token string
	require.Eventually(t, func() bool {
		files, _ := filepath.Glob(filepath.Join(dataDir, "outbox", "*.eml"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil || !strings.Contains(string(b), "To: "+to+"\r\n") {
				continue
			}
			if m := mailLink.FindStringSubmatch(string(b)); m != nil && m[1] == kind {
				token = m[2]
				return true
			}
		}
		return false
	}, 20*time.Second, 50*time.Millisecond)
	return token
}

func TestMFAOverHTTP(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		email := b.register(t)
		tok := b.login(t, email, password)
		enr := decode[auth.TOTPEnrollment](t, apitest.Scenario{Method: "POST", Path: "/api/v1/auth/mfa/totp", Auth: tok.AccessToken, ExpectedStatus: 200}.Test(t, b.h).Body)
		code, err := totp.GenerateCode(enr.Secret, time.Now())
		require.NoError(t, err)
		confirmed := apitest.Scenario{Method: "POST", Path: "/api/v1/auth/mfa/totp/confirm", Auth: tok.AccessToken, Body: `{"code":"` + code + `"}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"recovery_codes.#": 10}}.Test(t, b.h)
		recovery := decode[struct {
			RecoveryCodes []string `json:"recovery_codes"`
		}](t, confirmed.Body).RecoveryCodes

		res := b.tokenRequest(t, url.Values{"grant_type": {"password"}, "username": {email}, "password": {password}})
		require.Equal(t, 401, res.Status, res.Body)
		require.Equal(t, problem, res.Header.Get("Content-Type"))
		ch := decode[struct {
			Error    string `json:"error"`
			MFAToken string `json:"mfa_token"`
			Code     string `json:"code"`
		}](t, res.Body)
		require.Equal(t, "mfa_required", ch.Error)
		require.Equal(t, "unauthenticated", ch.Code)
		require.NotEmpty(t, ch.MFAToken)
		require.NotContains(t, res.Body, "access_token")

		apitest.Run(t, b.h, []apitest.Scenario{
			{Name: "wrong code", Method: "POST", Path: "/api/v1/auth/mfa/verify", Body: `{"mfa_token":"` + ch.MFAToken + `","code":"000000"}`,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "body.code"}},
			{Name: "bad challenge", Method: "POST", Path: "/api/v1/auth/mfa/verify", Body: `{"mfa_token":"nope","code":"000000"}`, ExpectedStatus: 401},
			{Name: "an API key cannot enrol", Method: "POST", Path: "/api/v1/auth/mfa/totp", Auth: "pk_nope_nope", ExpectedStatus: 401},
		})
		apitest.Scenario{Method: "POST", Path: "/api/v1/auth/mfa/verify", Body: `{"mfa_token":"` + ch.MFAToken + `","code":"` + recovery[0] + `"}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"token_type": "bearer"}}.Test(t, b.h)
	})
}

// With Redis configured, revocations live there: logout still stops the
// token at once, and so does deactivation.
func TestRevocationInRedis(t *testing.T) {
	t.Parallel()
	url := testRedisURL(t)
	b := setup(t, config.SQLite, map[string]string{"REDIS_URL": url, "PULSE_REDIS_PREFIX": "test:" + uniqueEmail() + ":"})
	email := b.register(t)
	tok := b.login(t, email, password)
	require.Equal(t, 204, b.status(t, "POST", "/api/v1/auth/logout", tok.AccessToken, ""))
	require.Equal(t, 401, b.status(t, "GET", "/api/v1/users/me", tok.AccessToken, ""))
	var n int
	require.NoError(t, b.app.DB().R.NewSelect().Table("pulse_kv").ColumnExpr("count(*)").Where("namespace = 'auth.revoked'").Scan(context.Background(), &n))
	require.Zero(t, n, "nothing written to the database's revocation list")
}

func TestVerificationAndMFAOverHTTP(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		tok := b.login(t, b.register(t), password)
		require.Equal(t, 202, b.status(t, "POST", "/api/v1/auth/verify/send", tok.AccessToken, ""))
		require.Equal(t, 401, b.status(t, "POST", "/api/v1/auth/verify/send", "", ""))

		enr := decode[auth.TOTPEnrollment](t, apitest.Scenario{Method: "POST", Path: "/api/v1/auth/mfa/totp", Auth: tok.AccessToken, ExpectedStatus: 200}.Test(t, b.h).Body)
		code, err := totp.GenerateCode(enr.Secret, time.Now())
		require.NoError(t, err)
		res := apitest.Scenario{Method: "POST", Path: "/api/v1/auth/mfa/totp/confirm", Auth: tok.AccessToken, Body: `{"code":"` + code + `"}`, ExpectedStatus: 200}.Test(t, b.h)
		recovery := decode[struct {
			RecoveryCodes []string `json:"recovery_codes"`
		}](t, res.Body).RecoveryCodes
		apitest.Run(t, b.h, []apitest.Scenario{
			{Name: "disable needs a valid code", Method: "DELETE", Path: "/api/v1/auth/mfa/totp", Auth: tok.AccessToken, Body: `{"code":"000000"}`, ExpectedStatus: 422},
			{Name: "disable with a recovery code", Method: "DELETE", Path: "/api/v1/auth/mfa/totp", Auth: tok.AccessToken, Body: `{"code":"` + recovery[0] + `"}`, ExpectedStatus: 204},
			{Name: "already disabled", Method: "DELETE", Path: "/api/v1/auth/mfa/totp", Auth: tok.AccessToken, Body: `{"code":"` + recovery[1] + `"}`, ExpectedStatus: 404},
		})
	})
}

// On an embedded install revocations are answered from memory; a restart
// reloads them, so a logged-out token stays dead.
func TestRevocationsSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"PULSE_DATA_DIR": dir}
	b := setup(t, config.SQLite, env)
	email := b.register(t)
	tok := b.login(t, email, password)
	require.Equal(t, 204, b.status(t, "POST", "/api/v1/auth/logout", tok.AccessToken, ""))
	b.app.Close()

	again := setup(t, config.SQLite, env)
	require.Equal(t, 401, again.status(t, "GET", "/api/v1/users/me", tok.AccessToken, ""))
	other := again.login(t, email, password)
	require.Equal(t, 200, again.status(t, "GET", "/api/v1/users/me", other.AccessToken, ""))
}
