package auth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/pulse-run/pulse/internal/auth/oauthtest"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

// loginCode runs a Google sign-in for user, started with the app's PKCE
// challenge ("" for none), and returns the login code the app receives.
func (b *oauthBundle) loginCode(t *testing.T, user oauthtest.User, challenge string) string {
	t.Helper()
	q := url.Values{"redirect_to": {"/welcome"}}
	if challenge != "" {
		q.Set("code_challenge", challenge)
		q.Set("code_challenge_method", "S256")
	}
	back := b.callback(t, b.google.Authorize(t, b.startWith(t, "google", q), user))
	code := back.Query().Get("code")
	require.NotEmpty(t, code, back.String())
	return code
}

// exchange sends the login code, and the verifier when not "", to the
// token endpoint.
func (b *oauthBundle) exchange(t *testing.T, code, verifier string) apitest.Response {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	return b.tokenRequest(t, form)
}

// signedInAs asserts that a token response signed in the account of email.
func (b *oauthBundle) signedInAs(t *testing.T, res apitest.Response, email string) {
	t.Helper()
	require.Equal(t, http.StatusOK, res.Status, res.Body)
	tok := decode[struct {
		AccessToken string `json:"access_token"`
	}](t, res.Body).AccessToken
	apitest.Scenario{Method: "GET", Path: "/api/v1/users/me", Auth: tok, ExpectedStatus: 200,
		ExpectedJSON: map[string]any{"email": email}}.Test(t, b.h)
}

// invalidGrant asserts a refused exchange: 400, a problem naming
// invalid_grant at body.code_verifier, and no tokens.
func invalidGrant(t *testing.T, res apitest.Response) {
	t.Helper()
	require.Equal(t, http.StatusBadRequest, res.Status, res.Body)
	require.Equal(t, problem, res.Header.Get("Content-Type"))
	p := decode[grantProblem](t, res.Body)
	require.Equal(t, "invalid_grant", p.Error, res.Body)
	require.Equal(t, "body.code_verifier", p.at(), res.Body)
	require.NotContains(t, res.Body, "access_token")
}

// grantProblem is the part of a problem+json body these tests read.
type grantProblem struct {
	Error  string `json:"error"`
	Errors []struct {
		Location string `json:"location"`
	} `json:"errors"`
}

// at is the first invalid field's location.
func (p grantProblem) at() string {
	if len(p.Errors) == 0 {
		return ""
	}
	return p.Errors[0].Location
}

// The provider callback is bound to the browser by a cookie, but the login
// code it hands to the app was a bearer secret: an attacker finished their
// own sign-in, kept the code and pushed app/...?code=X to a victim, whose
// app exchanged it and was signed in as the attacker (login CSRF through
// the second step). With the app's PKCE challenge the code is exchanged
// only with its verifier, and an app that started a PKCE flow can never be
// handed a code without one.
func TestFinding7LoginCodeIsBoundToTheAppThatStartedTheFlow(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setupOAuth(t, e)
		victim, attacker := person(true), person(true)
		verifier := oauth2.GenerateVerifier()
		challenge := oauth2.S256ChallengeFromVerifier(verifier)

		// The right verifier: tokens, for the account that signed in.
		b.signedInAs(t, b.exchange(t, b.loginCode(t, victim, challenge), verifier), victim.Email)
		// Sent as JSON too.
		code := b.loginCode(t, victim, challenge)
		b.signedInAs(t, apitest.Scenario{ExpectedStatus: 200, Method: "POST", Path: "/api/v1/auth/token",
			Body: `{"grant_type":"authorization_code","code":"` + code + `","code_verifier":"` + verifier + `"}`}.Test(t, b.h), victim.Email)

		// A wrong verifier: refused, and the code is used up.
		code = b.loginCode(t, victim, challenge)
		invalidGrant(t, b.exchange(t, code, oauth2.GenerateVerifier()))
		require.Equal(t, http.StatusUnauthorized, b.exchange(t, code, verifier).Status, "the code is gone")

		// No verifier for a challenged code (an attacker who stole it, or
		// an app exchanging it server-side without the verifier): refused.
		code = b.loginCode(t, victim, challenge)
		invalidGrant(t, b.exchange(t, code, ""))
		require.Equal(t, http.StatusUnauthorized, b.exchange(t, code, verifier).Status, "the code is gone")

		// The attack: the attacker's own, un-challenged code pushed into the
		// victim's app, which started a PKCE flow and sends its verifier.
		attackerCode := b.loginCode(t, attacker, "")
		invalidGrant(t, b.exchange(t, attackerCode, verifier))
		require.Equal(t, http.StatusUnauthorized, b.exchange(t, attackerCode, "").Status, "the code is gone")
		// Nor can a challenged code of the attacker's be used: its verifier
		// is the attacker's, not the one the victim's app holds.
		attackerVerifier := oauth2.GenerateVerifier()
		invalidGrant(t, b.exchange(t, b.loginCode(t, attacker, oauth2.S256ChallengeFromVerifier(attackerVerifier)), verifier))

		// No challenge and no verifier: server-side exchanges still work.
		b.signedInAs(t, b.exchange(t, b.loginCode(t, victim, ""), ""), victim.Email)

		// A malformed verifier is refused at its field before the code is
		// looked at, so it stays usable.
		code = b.loginCode(t, victim, challenge)
		for _, bad := range []string{"short", strings.Repeat("a", 129), strings.Repeat("a", 42) + "!", strings.Repeat("é", 30)} {
			res := b.exchange(t, code, bad)
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, res.Body)
			require.Equal(t, "body.code_verifier", decode[grantProblem](t, res.Body).at(), res.Body)
		}
		b.signedInAs(t, b.exchange(t, code, verifier), victim.Email)

		// The challenge's own rules, at authorize.
		authorize := "/api/v1/auth/oauth/google/authorize?"
		apitest.Run(t, b.h, []apitest.Scenario{
			{Name: "plain is refused", Method: "GET", Path: authorize + "code_challenge=" + verifier + "&code_challenge_method=plain",
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "query.code_challenge_method"}},
			{Name: "a challenge needs its method (the default, plain, is refused)", Method: "GET", Path: authorize + "code_challenge=" + challenge,
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "query.code_challenge_method"}},
			{Name: "a method needs a challenge", Method: "GET", Path: authorize + "code_challenge_method=S256",
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "query.code_challenge"}},
			{Name: "too short", Method: "GET", Path: authorize + "code_challenge=" + challenge[:42] + "&code_challenge_method=S256",
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "query.code_challenge"}},
			{Name: "not a SHA-256 (a verifier sent as the challenge)", Method: "GET", Path: authorize + "code_challenge=" + verifier + "x&code_challenge_method=S256",
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "query.code_challenge"}},
			{Name: "not base64url", Method: "GET", Path: authorize + "code_challenge=" + url.QueryEscape(challenge[:42]+"+") + "&code_challenge_method=S256",
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "query.code_challenge"}},
			{Name: "too long", Method: "GET", Path: authorize + "code_challenge=" + strings.Repeat("A", 129) + "&code_challenge_method=S256",
				ExpectedStatus: 422, ExpectedJSON: map[string]any{"errors.0.location": "query.code_challenge"}},
		})
	})
}
