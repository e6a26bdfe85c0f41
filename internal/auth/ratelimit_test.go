package auth_test

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

// apitest's requests come from 192.0.2.1, which plays the reverse proxy.
var behindProxy = map[string]string{"PULSE_TRUSTED_PROXIES": "192.0.2.0/24"}

// loginFrom signs in through the proxy on behalf of the client at ip.
func (b *testBundle) loginFrom(t *testing.T, ip, email, pw string) apitest.Response {
	t.Helper()
	return apitest.Scenario{Method: "POST", Path: "/api/v1/auth/token",
		Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-For": "203.0.113.250, " + ip},
		Body:    url.Values{"grant_type": {"password"}, "username": {email}, "password": {pw}}.Encode()}.Do(b.h)
}

// Behind a trusted proxy, each client is limited on its own address: one
// client spending the per-address allowance does not block everybody else.
func TestFinding9OneClientBehindTheProxyDoesNotBlockOthers(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, behindProxy)
		victim := b.register(t)
		limited := 0
		for range 40 { // more than the 30 a minute an address may try
			if b.loginFrom(t, "198.51.100.66", uniqueEmail(), "wrong password!").Status == 429 {
				limited++
			}
		}
		require.Positive(t, limited, "the noisy client is limited")
		res := b.loginFrom(t, "198.51.100.7", victim, password)
		require.Equal(t, 200, res.Status, "another client behind the same proxy signs in: %s", res.Body)
	})
}

// Bad passwords from one address cannot lock a chosen account: the failure
// limit counts per (account, address); the account's own ceiling is far
// higher than one address can reach.
func TestFinding9BadPasswordsFromOneIPDoNotLockTheVictimOut(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, behindProxy)
		victim := b.register(t)
		statuses := map[int]int{}
		for range 15 {
			statuses[b.loginFrom(t, "198.51.100.66", victim, "wrong password!").Status]++
		}
		require.Equal(t, map[int]int{401: 10, 429: 5}, statuses, "the attacker's address gets ten tries at this account")
		require.Equal(t, 429, b.loginFrom(t, "198.51.100.66", victim, password).Status, "even the right password, from there")
		res := b.loginFrom(t, "198.51.100.7", victim, password)
		require.Equal(t, 200, res.Status, "the owner, elsewhere, signs in: %s", res.Body)
	})
}

// Every per-address limit counts an IPv6 client by its /64, not only the
// password sign-in: one subscriber holds a whole /64 and could otherwise
// rotate through it to register, or ask for reset mail, without end.
func TestFinding9EveryPerAddressLimitCountsIPv6BySlash64(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, behindProxy)
		for _, c := range []struct {
			name  string
			path  string
			body  func() string
			limit int
		}{
			{"register", "/api/v1/auth/register", func() string {
				return `{"email":"` + uniqueEmail() + `","password":"` + password + `"}`
			}, 10},
			{"forgot", "/api/v1/auth/password/forgot", func() string { return `{"email":"` + uniqueEmail() + `"}` }, 20},
		} {
			prefix := map[string]string{"register": "2001:db8:1:1:", "forgot": "2001:db8:1:2:"}[c.name]
			limited := 0
			for i := range c.limit + 5 {
				res := apitest.Scenario{Method: "POST", Path: c.path, Body: c.body(),
					Headers: map[string]string{"X-Forwarded-For": fmt.Sprintf("%s%x::1", prefix, i+1)}}.Do(b.h)
				if res.Status == 429 {
					limited++
					continue
				}
				require.Less(t, res.Status, 300, "%s: %s", c.name, res.Body)
			}
			require.GreaterOrEqual(t, limited, 3, "%s: addresses of one /64 share one allowance", c.name)
		}
	})
}

// A stolen session must not be a way around the password-failure limits:
// guesses at the current password when changing it are counted like
// sign-in failures (same (account, address) key), so the thief cannot learn
// the password and keep the account after the sessions are revoked.
func TestFinding9ChangePasswordGuessesCountLikeSignInFailures(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, behindProxy)
		email := b.register(t)
		tok := b.login(t, email, password)
		statuses := map[int]int{}
		for range 15 {
			statuses[apitest.Scenario{Method: "POST", Path: "/api/v1/users/me/password", Auth: tok.AccessToken,
				Headers: map[string]string{"X-Forwarded-For": "198.51.100.66"},
				Body:    `{"current_password":"a wrong guess!","new_password":"the thief's password"}`}.Do(b.h).Status]++
		}
		require.Equal(t, map[int]int{422: 10, 429: 5}, statuses, "ten guesses from that address, then no more")
		res := b.loginFrom(t, "198.51.100.66", email, password)
		require.Equal(t, 429, res.Status, "the same allowance as sign-in: %s", res.Body)
	})
}
