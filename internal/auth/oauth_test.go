package auth_test

import (
	"context"
	"crypto/rand"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/auth"
	"github.com/pulse-run/pulse/internal/auth/oauthtest"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
	"github.com/pulse-run/pulse/internal/platform/ids"
)

const appURL = "https://app.example.com"

type oauthBundle struct {
	*testBundle
	google, github, microsoft *oauthtest.Provider
	// cookie is the browser's binding cookie ("name=value"), as set by the
	// last authorize or link and sent back on each callback.
	cookie string
}

func setupOAuth(t testing.TB, e config.Engine) *oauthBundle {
	t.Helper()
	g, gh, ms := oauthtest.Start(t, "google"), oauthtest.Start(t, "github"), oauthtest.Start(t, "microsoft")
	b := setupWith(t, e, map[string]string{"PULSE_APP_URL": appURL, "PULSE_PUBLIC_URL": "https://api.example.com"},
		app.Options{OAuthProviders: []*auth.Provider{g.Provider(), gh.Provider(), ms.Provider()}})
	return &oauthBundle{testBundle: b, google: g, github: gh, microsoft: ms}
}

func (b *oauthBundle) cookies() map[string]string {
	if b.cookie == "" {
		return nil
	}
	return map[string]string{"Cookie": b.cookie}
}

// keepCookie stores the binding cookie a response set, as a browser would.
func (b *oauthBundle) keepCookie(t *testing.T, res apitest.Response) {
	t.Helper()
	c, err := http.ParseSetCookie(res.Header.Get("Set-Cookie"))
	require.NoError(t, err, "the flow sets its binding cookie")
	b.cookie = c.Name + "=" + c.Value
}

// start begins a sign-in and returns the provider URL Pulse redirected to.
func (b *oauthBundle) start(t *testing.T, provider, redirectTo string) string {
	t.Helper()
	return b.startWith(t, provider, url.Values{"redirect_to": {redirectTo}})
}

// startWith begins a sign-in with the query q (redirect_to, the app's
// code_challenge...) and returns the provider URL.
func (b *oauthBundle) startWith(t *testing.T, provider string, q url.Values) string {
	t.Helper()
	res := apitest.Scenario{Method: "GET", Path: "/api/v1/auth/oauth/" + provider + "/authorize?" + q.Encode(),
		Headers: b.cookies(), ExpectedStatus: http.StatusFound}.Test(t, b.h)
	b.keepCookie(t, res)
	return res.Header.Get("Location")
}

// link begins linking provider to the account of token and returns the
// provider URL.
func (b *oauthBundle) link(t *testing.T, provider, token, body string) string {
	t.Helper()
	res := apitest.Scenario{Method: "POST", Path: "/api/v1/auth/oauth/" + provider + "/link", Auth: token, Body: body,
		Headers: b.cookies(), ExpectedStatus: 200}.Test(t, b.h)
	b.keepCookie(t, res)
	return decode[struct {
		AuthorizationURL string `json:"authorization_url"`
	}](t, res.Body).AuthorizationURL
}

// callback follows the provider's redirect back to Pulse and returns the
// app URL Pulse redirects to.
func (b *oauthBundle) callback(t *testing.T, callbackPath string) *url.URL {
	t.Helper()
	res := apitest.Scenario{Method: "GET", Path: callbackPath, Headers: b.cookies(), ExpectedStatus: http.StatusFound}.Test(t, b.h)
	u, err := url.Parse(res.Header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, appURL, u.Scheme+"://"+u.Host, "always back to the app")
	return u
}

// signIn runs the whole flow for user at fake and returns the tokens.
func (b *oauthBundle) signIn(t *testing.T, fake *oauthtest.Provider, user oauthtest.User) *auth.Tokens {
	t.Helper()
	back := b.callback(t, fake.Authorize(t, b.start(t, fake.Kind, "/welcome"), user))
	require.Empty(t, back.Query().Get("error"), back.String())
	require.Equal(t, "/welcome", back.Path)
	res := b.tokenRequest(t, url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}})
	require.Equal(t, 200, res.Status, res.Body)
	return ptr(decode[auth.Tokens](t, res.Body))
}

func ptr[T any](v T) *T { return &v }

func person(verified bool) oauthtest.User {
	id := ids.New()
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<53))
	// Numeric, as GitHub's user ids are; the OIDC providers accept any string.
	return oauthtest.User{Subject: n.String(), Email: "p" + id[24:] + "@example.com", EmailVerified: verified, Name: "Pat Doe", TenantID: "tenant-1"}
}

func TestOAuthSignIn(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setupOAuth(t, e)
		apitest.Scenario{Method: "GET", Path: "/api/v1/auth/oauth/providers", ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"providers": []string{"github", "google", "microsoft"}}}.Test(t, b.h)

		// A new person signs up with Google.
		pat := person(true)
		tok := b.signIn(t, b.google, pat)
		me := apitest.Scenario{Method: "GET", Path: "/api/v1/users/me", Auth: tok.AccessToken, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"email": pat.Email, "email_verified": true, "name": "Pat Doe"}}.Test(t, b.h)
		id := decode[struct{ ID string }](t, me.Body).ID

		// Again: the same account, not a new one.
		again := b.signIn(t, b.google, pat)
		apitest.Scenario{ExpectedStatus: 200, Method: "GET", Path: "/api/v1/users/me", Auth: again.AccessToken, ExpectedJSON: map[string]any{"id": id}}.Test(t, b.h)
		apitest.Scenario{Method: "GET", Path: "/api/v1/auth/identities", Auth: again.AccessToken, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"identities.#": 1, "identities.0.provider": "google"}}.Test(t, b.h)

		// GitHub: its verified primary email makes the account.
		gh := person(true)
		ghTok := b.signIn(t, b.github, gh)
		apitest.Scenario{ExpectedStatus: 200, Method: "GET", Path: "/api/v1/users/me", Auth: ghTok.AccessToken, ExpectedJSON: map[string]any{"email": gh.Email, "email_verified": true}}.Test(t, b.h)

		// Microsoft (multi-tenant issuer) signs in a new person; its email is
		// not vouched for unless the domain owner verified it.
		ms := person(false)
		msTok := b.signIn(t, b.microsoft, ms)
		apitest.Scenario{ExpectedStatus: 200, Method: "GET", Path: "/api/v1/users/me", Auth: msTok.AccessToken, ExpectedJSON: map[string]any{"email": ms.Email, "email_verified": false}}.Test(t, b.h)
	})
}

func TestOAuthLinkingRules(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setupOAuth(t, e)
		email := b.register(t)
		pwTok := b.login(t, email, password)
		meID := decode[struct{ ID string }](t, apitest.Scenario{ExpectedStatus: 200, Method: "GET", Path: "/api/v1/users/me", Auth: pwTok.AccessToken}.Test(t, b.h).Body).ID

		// An unverified email matching an account: refused, nothing changes.
		unverified := person(false)
		unverified.Email = email
		back := b.callback(t, b.google.Authorize(t, b.start(t, "google", "/"), unverified))
		require.Equal(t, "account_link_required", back.Query().Get("error"))
		require.Empty(t, back.Query().Get("code"))
		apitest.Scenario{ExpectedStatus: 200, Method: "GET", Path: "/api/v1/auth/identities", Auth: pwTok.AccessToken, ExpectedJSON: map[string]any{"identities.#": 0}}.Test(t, b.h)

		// Microsoft without a domain-owner verified email: the same.
		msUser := person(false)
		msUser.Email = email
		back = b.callback(t, b.microsoft.Authorize(t, b.start(t, "microsoft", "/"), msUser))
		require.Equal(t, "account_link_required", back.Query().Get("error"))

		// A verified, matching email links and signs in to the same account
		// (once the local address is verified too: finding 6).
		b.markVerified(t, email)
		verified := person(true)
		verified.Email = email
		tok := b.signIn(t, b.google, verified)
		apitest.Scenario{ExpectedStatus: 200, Method: "GET", Path: "/api/v1/users/me", Auth: tok.AccessToken, ExpectedJSON: map[string]any{"id": meID}}.Test(t, b.h)

		// Explicit linking from a signed-in session.
		authURL := b.link(t, "github", pwTok.AccessToken, `{"redirect_to":"/settings"}`)
		ghUser := person(false) // linking does not need the provider's word on the email
		back = b.callback(t, b.github.Authorize(t, authURL, ghUser))
		require.Equal(t, "/settings", back.Path)
		require.Equal(t, "github", back.Query().Get("linked"))
		ids := apitest.Scenario{ExpectedStatus: 200, Method: "GET", Path: "/api/v1/auth/identities", Auth: pwTok.AccessToken, ExpectedJSON: map[string]any{"identities.#": 2}}.Test(t, b.h)
		require.Equal(t, 401, b.status(t, "POST", "/api/v1/auth/oauth/github/link", "", `{}`))

		// That GitHub account cannot be linked to someone else.
		other := b.login(t, b.register(t), password)
		back = b.callback(t, b.github.Authorize(t, b.link(t, "github", other.AccessToken, `{}`), ghUser))
		require.Equal(t, "identity_taken", back.Query().Get("error"))

		// Unlinking: allowed while a password remains.
		ghID := decode[struct {
			Identities []struct{ ID, Provider string }
		}](t, ids.Body).Identities
		for _, x := range ghID {
			require.Equal(t, 204, b.status(t, "DELETE", "/api/v1/auth/identities/"+x.ID, pwTok.AccessToken, ""))
		}
		require.Equal(t, 404, b.status(t, "DELETE", "/api/v1/auth/identities/"+ghID[0].ID, other.AccessToken, ""))
	})
}

func TestOAuthNeverUnlinksTheLastWayIn(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setupOAuth(t, e)
		tok := b.signIn(t, b.google, person(true))
		list := decode[struct {
			Identities []struct{ ID string }
		}](t, apitest.Scenario{ExpectedStatus: 200, Method: "GET", Path: "/api/v1/auth/identities", Auth: tok.AccessToken}.Test(t, b.h).Body).Identities
		require.Len(t, list, 1)
		require.Equal(t, 409, b.status(t, "DELETE", "/api/v1/auth/identities/"+list[0].ID, tok.AccessToken, ""))
		// Set a password (none yet, so no current one is asked), then unlink.
		require.Equal(t, 204, b.status(t, "POST", "/api/v1/users/me/password", tok.AccessToken, `{"current_password":"","new_password":"a fresh password"}`))
		require.Equal(t, 204, b.status(t, "DELETE", "/api/v1/auth/identities/"+list[0].ID, tok.AccessToken, ""))
	})
}

func TestOAuthBadInput(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setupOAuth(t, e)
		pat := person(true)

		// Forged state.
		cb := b.google.Authorize(t, b.start(t, "google", "/"), pat)
		forged := strings.Replace(cb, "state=", "state=x", 1)
		require.Equal(t, "invalid_state", b.callback(t, forged).Query().Get("error"))

		// A state replayed after use.
		cb = b.google.Authorize(t, b.start(t, "google", "/"), pat)
		first := b.callback(t, cb)
		require.NotEmpty(t, first.Query().Get("code"))
		require.Equal(t, "invalid_state", b.callback(t, cb).Query().Get("error"))

		// The login code works once.
		code := first.Query().Get("code")
		require.Equal(t, 200, b.tokenRequest(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}}).Status)
		require.Equal(t, 401, b.tokenRequest(t, url.Values{"grant_type": {"authorization_code"}, "code": {code}}).Status)

		// State from one provider used at another.
		cb = b.google.Authorize(t, b.start(t, "google", "/"), pat)
		cross := strings.Replace(cb, "/oauth/google/", "/oauth/github/", 1)
		require.Equal(t, "invalid_state", b.callback(t, cross).Query().Get("error"))

		// The provider says no.
		st := url.Values{}
		au, _ := url.Parse(b.start(t, "google", "/"))
		st.Set("state", au.Query().Get("state"))
		st.Set("error", "access_denied")
		require.Equal(t, "access_denied", b.callback(t, "/api/v1/auth/oauth/google/callback?"+st.Encode()).Query().Get("error"))

		// Tampered id_tokens: wrong nonce, wrong audience, foreign signature.
		stranger := person(true)
		for name, tamper := range map[string]func(*oauthtest.Provider){
			"nonce":    func(p *oauthtest.Provider) { p.Tamper = func(c jwt.MapClaims) { c["nonce"] = "other" } },
			"audience": func(p *oauthtest.Provider) { p.Tamper = func(c jwt.MapClaims) { c["aud"] = "someone-else" } },
			"expired":  func(p *oauthtest.Provider) { p.Tamper = func(c jwt.MapClaims) { c["exp"] = 1 } },
			"issuer": func(p *oauthtest.Provider) {
				p.Tamper = func(c jwt.MapClaims) { c["iss"] = "https://evil.example.com" }
			},
			"key": func(p *oauthtest.Provider) { p.WrongKey = true },
		} {
			tamper(b.google)
			back := b.callback(t, b.google.Authorize(t, b.start(t, "google", "/"), stranger))
			require.Equal(t, "provider_error", back.Query().Get("error"), name)
			b.google.Tamper, b.google.WrongKey = nil, false
		}
		// Microsoft: a token whose issuer names another tenant than its tid.
		b.microsoft.Tamper = func(c jwt.MapClaims) { c["tid"] = "tenant-2" }
		require.Equal(t, "provider_error", b.callback(t, b.microsoft.Authorize(t, b.start(t, "microsoft", "/"), person(true))).Query().Get("error"))
		b.microsoft.Tamper = nil
		// None of those created an account.
		admin := b.admin(t)
		apitest.Scenario{Method: "GET", Path: "/api/v1/admin/users?email=" + url.QueryEscape(stranger.Email), Auth: admin.AccessToken,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"users.#": 0}}.Test(t, b.h)

		apitest.Run(t, b.h, []apitest.Scenario{
			{Name: "open redirect refused", Method: "GET", Path: "/api/v1/auth/oauth/google/authorize?redirect_to=https://evil.example.com", ExpectedStatus: 422},
			{Name: "protocol-relative redirect refused", Method: "GET", Path: "/api/v1/auth/oauth/google/authorize?redirect_to=//evil.example.com", ExpectedStatus: 422},
			{Name: "unknown provider", Method: "GET", Path: "/api/v1/auth/oauth/myspace/authorize", ExpectedStatus: 404},
			{Name: "callback without state", Method: "GET", Path: "/api/v1/auth/oauth/google/callback?code=abc", ExpectedStatus: 302,
				ExpectedHeaders: map[string]string{"Location": appURL + "/?error=invalid_state&error_description=the+sign-in+expired+or+was+not+started+here%3B+try+again"}},
		})
	})
}

// Provider tokens are stored encrypted and survive a vault rotation.
func TestProviderTokensRewrapped(t *testing.T) {
	t.Parallel()
	b := setupOAuth(t, config.SQLite)
	b.signIn(t, b.google, person(true))
	ctx := context.Background()
	var enc string
	require.NoError(t, b.app.DB().R.NewSelect().Table("auth_identities").Column("access_token_enc").Scan(ctx, &enc))
	require.True(t, strings.HasPrefix(enc, "v1:"), "encrypted: %s", enc)
	_, _, n, err := b.app.RotateKeys(ctx)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 2, "signing key and identity tokens")
	var after string
	require.NoError(t, b.app.DB().R.NewSelect().Table("auth_identities").Column("access_token_enc").Scan(ctx, &after))
	require.NotEqual(t, enc, after)
}

// markVerified records email as verified, as following the verification
// link would (the outbox is encrypted; the link itself is tested in
// email_test.go).
func (b *oauthBundle) markVerified(t *testing.T, email string) {
	t.Helper()
	_, err := b.app.DB().W.NewUpdate().Table("users").Set("email_verified_at = ?", time.Now().UTC()).Where("email = ?", email).Exec(context.Background())
	require.NoError(t, err)
}

// Someone registers the victim's address with a password and never
// verifies it. When the real owner signs in with a provider that vouches for
// the address, nothing is linked into the squatter's account.
func TestFinding6PreRegisteredUnverifiedAccountIsNotLinked(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setupOAuth(t, e)
		victim := b.register(t) // the attacker's account, never verified
		squatter := b.login(t, victim, password)

		owner := person(true)
		owner.Email = victim
		back := b.callback(t, b.google.Authorize(t, b.start(t, "google", "/"), owner))
		require.Equal(t, "account_link_required", back.Query().Get("error"), back.String())
		require.Contains(t, back.Query().Get("error_description"), "sign in")
		require.Empty(t, back.Query().Get("code"), "no sign-in")
		apitest.Scenario{ExpectedStatus: 200, Method: "GET", Path: "/api/v1/auth/identities", Auth: squatter.AccessToken,
			ExpectedJSON: map[string]any{"identities.#": 0}}.Test(t, b.h)

		// Once the address is verified, the provider's word links it.
		b.markVerified(t, victim)
		tok := b.signIn(t, b.google, owner)
		apitest.Scenario{ExpectedStatus: 200, Method: "GET", Path: "/api/v1/users/me", Auth: tok.AccessToken, ExpectedJSON: map[string]any{"email": victim}}.Test(t, b.h)
	})
}

// The state is bound to the browser that started the flow by a short-lived
// cookie. A callback pushed into another browser (login CSRF: the
// attacker's own sign-in; link CSRF: linking the victim's provider account
// to the attacker's) is refused with a problem, and changes nothing.
func TestFinding7OAuthStateIsBoundToTheBrowser(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setupOAuth(t, e)
		refused := func(t *testing.T, callbackPath, cookie string) {
			t.Helper()
			h := map[string]string{}
			if cookie != "" {
				h["Cookie"] = cookie
			}
			res := apitest.Scenario{Method: "GET", Path: callbackPath, Headers: h, ExpectedStatus: http.StatusForbidden,
				ExpectedHeaders: map[string]string{"Content-Type": "application/problem+json"},
				ExpectedJSON:    map[string]any{"error": "state_not_bound"}}.Test(t, b.h)
			require.Empty(t, res.Header.Get("Location"))
			require.Contains(t, res.Body, "not started in this browser")
		}

		// The cookie: short-lived, script-proof, sent on the provider's
		// redirect back, https-only and host-only.
		res := apitest.Scenario{Method: "GET", Path: "/api/v1/auth/oauth/google/authorize", ExpectedStatus: http.StatusFound}.Test(t, b.h)
		c, err := http.ParseSetCookie(res.Header.Get("Set-Cookie"))
		require.NoError(t, err)
		require.Equal(t, "__Host-pulse_oauth", c.Name)
		require.True(t, c.HttpOnly)
		require.True(t, c.Secure, "the public URL is https")
		require.Equal(t, http.SameSiteLaxMode, c.SameSite)
		require.Equal(t, "/", c.Path)
		require.Equal(t, 600, c.MaxAge)

		// Login CSRF: the attacker starts a sign-in to their own account and
		// sends the victim's browser the callback.
		attacker := person(true)
		cb := b.google.Authorize(t, b.start(t, "google", "/"), attacker)
		attackerCookie := b.cookie
		victimBrowser := &oauthBundle{testBundle: b.testBundle, google: b.google}
		victimBrowser.start(t, "google", "/") // the victim's own, unrelated flow
		refused(t, cb, "")                    // no cookie at all
		refused(t, cb, victimBrowser.cookie)  // another browser's cookie
		refused(t, cb, "__Host-pulse_oauth=forged")
		// The browser that started it can still finish.
		back := b.callback(t, cb)
		require.NotEmpty(t, back.Query().Get("code"), back.String())

		// Link CSRF: the attacker starts linking to their account; the
		// victim's browser signs in at the provider and lands on the callback.
		attackerTok := b.login(t, b.register(t), password)
		b.cookie = attackerCookie
		cb = b.github.Authorize(t, b.link(t, "github", attackerTok.AccessToken, `{}`), person(true))
		refused(t, cb, "")
		refused(t, cb, victimBrowser.cookie)
		apitest.Scenario{ExpectedStatus: 200, Method: "GET", Path: "/api/v1/auth/identities", Auth: attackerTok.AccessToken,
			ExpectedJSON: map[string]any{"identities.#": 0}}.Test(t, b.h)

		// Two flows in two tabs of one browser share its cookie and both finish.
		b.cookie = ""
		first := b.google.Authorize(t, b.start(t, "google", "/"), person(true))
		second := b.google.Authorize(t, b.start(t, "google", "/"), person(true))
		require.NotEmpty(t, b.callback(t, second).Query().Get("code"))
		require.NotEmpty(t, b.callback(t, first).Query().Get("code"))
	})
}

// Microsoft's xms_edov speaks of the email claim only. A token without one
// falls back to preferred_username, which Microsoft says never to trust for
// such decisions (a tenant's user picks it): it must not join an existing
// account, even a verified one (finding 6).
func TestFinding6MicrosoftPreferredUsernameDoesNotAutoLink(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setupOAuth(t, e)
		email := b.register(t)
		b.markVerified(t, email)
		b.microsoft.Tamper = func(c jwt.MapClaims) {
			delete(c, "email")
			c["preferred_username"] = email
			c["xms_edov"] = true
		}
		back := b.callback(t, b.microsoft.Authorize(t, b.start(t, "microsoft", "/"), person(false)))
		require.Equal(t, "account_link_required", back.Query().Get("error"), back.String())
		require.Empty(t, back.Query().Get("code"))
	})
}
