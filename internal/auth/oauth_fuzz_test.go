package auth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

// Fuzz mode bits: which provider's callback, and which parts of a real flow
// (started in the browser, completed at the fake provider) the input uses
// instead of its own strings.
const (
	fuzzRealState  = 1 << 2
	fuzzRealCookie = 1 << 3
	fuzzRealCode   = 1 << 4
	// fuzzAppPKCE starts the real flow with the app's PKCE challenge: a
	// login code it yields must then refuse an exchange without the
	// verifier.
	fuzzAppPKCE = 1 << 5
)

var fuzzProviders = []string{"google", "github", "microsoft", "myspace"}

// FuzzOAuthCallback drives the real callback handler with arbitrary
// parameters (state, code, error, error_description, iss) and cookie,
// mixed with parts of genuine flows. Whatever comes in, the answer is a
// redirect to the app or a problem, never a 500, a login code is only
// ever issued to a genuine, complete flow, and one issued to a flow with
// the app's PKCE challenge is never exchanged without its verifier.
func FuzzOAuthCallback(f *testing.F) {
	b := setupOAuth(f, config.SQLite)
	all := uint8(fuzzRealState | fuzzRealCookie | fuzzRealCode)
	for _, s := range []struct {
		mode                                  uint8
		state, code, errCode, errDesc, iss, c string
	}{
		{0, "", "", "", "", "", ""},
		{0, "abc", "def", "", "", "", ""},
		{all, "", "", "", "", "", ""},                                  // a genuine sign-in
		{all | 1, "", "", "", "", "", ""},                              // github
		{all | 2, "", "", "", "", "", ""},                              // microsoft
		{all | 3, "", "", "", "", "", ""},                              // a provider that is not enabled
		{all, "", "", "access_denied", "the user said no", "", ""},     // the provider refuses
		{all, "", "", "x\"<script>", strings.Repeat("é", 300), "", ""}, // with junk
		{all, "", "", "", "", "https://evil.example.com", ""},          // RFC 9207 mix-up
		{fuzzRealState | fuzzRealCode, "", "", "", "", "", ""},         // no cookie
		{fuzzRealState | fuzzRealCookie, "", "forged-code", "", "", "", ""},
		{fuzzRealCookie | fuzzRealCode, "forged-state", "", "", "", "", ""},
		{fuzzRealState | fuzzRealCode, "", "", "", "", "", "__Host-pulse_oauth=" + strings.Repeat("A", 43)},
		{0, strings.Repeat("s", 201), strings.Repeat("c", 2001), "", "", "", "pulse_oauth=\x00; a=b"},
		{all, "", "", "", "", "", "__Host-pulse_oauth=\"quoted\"; __Host-pulse_oauth=second"},
		{all | fuzzAppPKCE, "", "", "", "", "", ""},     // a genuine sign-in with the app's PKCE
		{all | fuzzAppPKCE | 1, "", "", "", "", "", ""}, // the same at github
		{fuzzRealState | fuzzRealCode | fuzzAppPKCE, "", "", "", "", "", ""},
	} {
		f.Add(s.mode, s.state, s.code, s.errCode, s.errDesc, s.iss, s.c)
	}
	f.Fuzz(func(t *testing.T, mode uint8, state, code, errCode, errDesc, iss, cookie string) {
		fuzzCallback(t, b, mode, state, code, errCode, errDesc, iss, cookie)
	})
}

// fuzzCallback is one fuzz input: a callback, checked against the
// invariants above.
func fuzzCallback(t *testing.T, b *oauthBundle, mode uint8, state, code, errCode, errDesc, iss, cookie string) {
	t.Helper()
	{
		provider := fuzzProviders[mode&3]
		browser := &oauthBundle{testBundle: b.testBundle, google: b.google, github: b.github, microsoft: b.microsoft}
		real := mode&(fuzzRealState|fuzzRealCookie|fuzzRealCode) != 0
		if real {
			fake := b.google
			switch provider {
			case "github":
				fake = b.github
			case "microsoft":
				fake = b.microsoft
			}
			start := "google"
			if provider != "myspace" {
				start = provider
			}
			q := url.Values{"redirect_to": {"/"}}
			if mode&fuzzAppPKCE != 0 {
				q.Set("code_challenge", oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier()))
				q.Set("code_challenge_method", "S256")
			}
			cb, err := url.Parse(fake.Authorize(t, browser.startWith(t, start, q), person(true)))
			if err != nil {
				t.Fatal(err)
			}
			if mode&fuzzRealState != 0 {
				state = cb.Query().Get("state")
			}
			if mode&fuzzRealCode != 0 {
				code = cb.Query().Get("code")
			}
			if mode&fuzzRealCookie != 0 {
				cookie = browser.cookie
			}
		}
		q := url.Values{}
		for k, v := range map[string]string{"state": state, "code": code, "error": errCode, "error_description": errDesc, "iss": iss} {
			if v != "" {
				q.Set(k, v)
			}
		}
		headers := map[string]string{}
		if cookie != "" {
			headers["Cookie"] = cookie
		}
		res := apitest.Scenario{Method: "GET", Path: "/api/v1/auth/oauth/" + provider + "/callback?" + q.Encode(), Headers: headers}.Do(b.h)

		genuine := mode&(fuzzRealState|fuzzRealCookie|fuzzRealCode) == fuzzRealState|fuzzRealCookie|fuzzRealCode && provider != "myspace"
		switch res.Status {
		case http.StatusFound:
			loc, err := url.Parse(res.Header.Get("Location"))
			if err != nil || !strings.HasPrefix(loc.String(), appURL+"/") || loc.Host != "app.example.com" {
				t.Fatalf("redirect off the app: %q", res.Header.Get("Location"))
			}
			got := loc.Query()
			if got.Get("code") != "" && !genuine {
				t.Fatalf("a login code for a flow that was not genuine (mode %b): %s", mode, loc)
			}
			if got.Get("code") == "" && got.Get("error") == "" {
				t.Fatalf("neither a code nor an error: %s", loc)
			}
			if genuine && errCode == "" && iss == "" && got.Get("code") == "" {
				t.Fatalf("a genuine sign-in failed: %s", loc)
			}
			if c := got.Get("code"); c != "" && mode&fuzzAppPKCE != 0 {
				// Refused for the missing verifier, or (after many fuzz
				// sign-ins from one address) by the sign-in rate limit.
				ex := b.tokenRequest(t, url.Values{"grant_type": {"authorization_code"}, "code": {c}})
				refused := ex.Status == http.StatusBadRequest && strings.Contains(ex.Body, `"invalid_grant"`) || ex.Status == http.StatusTooManyRequests
				if !refused || strings.Contains(ex.Body, "access_token") {
					t.Fatalf("a PKCE-bound login code exchanged without its verifier: %d %s", ex.Status, ex.Body)
				}
			}
			// Our own messages hold no digits or brackets; the provider's
			// text, if it ever leaked, could.
			if len(errDesc) >= 8 && strings.ContainsAny(errDesc, "<>{}|0123456789") && !strings.Contains(errCode, errDesc) &&
				strings.Contains(got.Get("error_description"), errDesc) {
				t.Fatalf("the provider's free text reached the app: %s", loc)
			}
		case http.StatusForbidden:
			if !strings.Contains(res.Body, `"state_not_bound"`) || genuine {
				t.Fatalf("403 (genuine=%v): %s", genuine, res.Body)
			}
		case http.StatusUnprocessableEntity, http.StatusBadRequest:
			if !strings.Contains(res.Header.Get("Content-Type"), "application/problem+json") {
				t.Fatalf("%d without a problem: %s", res.Status, res.Body)
			}
		default:
			t.Fatalf("status %d: %s", res.Status, res.Body)
		}
	}
}
