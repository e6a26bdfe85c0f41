package idempotency_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/app/apptest"
	"github.com/pulse-run/pulse/internal/auth"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

// signIn opens another session of an account apptest made.
func signIn(t *testing.T, b *apptest.Bundle, u apptest.User) string {
	t.Helper()
	res := apitest.Scenario{Method: "POST", Path: "/api/v1/auth/token", Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		Body: url.Values{"grant_type": {"password"}, "username": {u.Email}, "password": {"correct horse battery"}}.Encode(), ExpectedStatus: 200}.Test(t, b.H)
	var tok auth.Tokens
	require.NoError(t, json.Unmarshal([]byte(res.Body), &tok))
	return tok.AccessToken
}

// keptRecords returns every idempotency record as stored.
func keptRecords(t *testing.T, b *apptest.Bundle) []string {
	t.Helper()
	var values [][]byte
	require.NoError(t, b.App.DB().R.NewSelect().Table("pulse_kv").Column("value").Where("namespace = ?", "idempotency").Scan(context.Background(), &values))
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

// Finding 4: a response kept for one credential, with a new API key's
// secret in it, was replayed to another credential of the same user that
// sent the same Idempotency-Key and body, before any scope check; and the
// secret was kept in the clear for 24 h.
func TestFinding4IdempotencyReplayStaysWithItsCredential(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := apptest.New(t, e, nil, app.Options{})
		alice := b.NewUser(t)
		mint := `{"name":"ci","scopes":["read","write"]}`

		first := apitest.Scenario{Method: "POST", Path: "/api/v1/api-keys", Auth: alice.Token, Headers: key("mint-1"), Body: mint,
			ExpectedStatus: 201}.Test(t, b.H)
		secret := gjson.Get(first.Body, "key").String()
		require.NotEmpty(t, secret)

		// The same credential retrying gets its key back: kept, sealed.
		apitest.Scenario{Method: "POST", Path: "/api/v1/api-keys", Auth: alice.Token, Headers: key("mint-1"), Body: mint,
			ExpectedStatus: 201, ExpectedContent: []string{secret}, ExpectedHeaders: map[string]string{"Idempotent-Replayed": "true"}}.Test(t, b.H)
		kept := keptRecords(t, b)
		require.NotEmpty(t, kept)
		for _, v := range kept {
			require.NotContains(t, v, secret, "no secret in the clear at rest")
		}

		// Another session of the same user: its own request, its own key.
		second := signIn(t, b, alice)
		other := apitest.Scenario{Method: "POST", Path: "/api/v1/api-keys", Auth: second, Headers: key("mint-1"), Body: mint,
			ExpectedStatus: 201, NotExpected: []string{secret}}.Test(t, b.H)
		require.Empty(t, other.Header.Get("Idempotent-Replayed"))
		require.NotEqual(t, gjson.Get(first.Body, "id").String(), gjson.Get(other.Body, "id").String())

		// An API key of the same user, with write scope: the service decides
		// (keys cannot mint keys), nothing is replayed.
		apitest.Scenario{Method: "POST", Path: "/api/v1/api-keys", Auth: secret, Headers: key("mint-1"), Body: mint,
			ExpectedStatus: 403, NotExpected: []string{secret}}.Test(t, b.H)

		// A read-only key never gets a replayed write response.
		ro := apitest.Scenario{Method: "POST", Path: "/api/v1/api-keys", Auth: alice.Token, Body: `{"name":"ro","scopes":["read"]}`,
			ExpectedStatus: 201}.Test(t, b.H)
		readOnly := gjson.Get(ro.Body, "key").String()
		made := apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: alice.Token, Headers: key("agent-1"), Body: agentBody,
			ExpectedStatus: 201}.Test(t, b.H)
		agentID := gjson.Get(made.Body, "id").String()
		for range 2 {
			res := apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: readOnly, Headers: key("agent-1"), Body: agentBody,
				ExpectedStatus: 403, NotExpected: []string{agentID}}.Test(t, b.H)
			require.Empty(t, res.Header.Get("Idempotent-Replayed"))
		}
		// The write key's own request is its own too.
		apitest.Scenario{Method: "POST", Path: "/api/v1/agents", Auth: secret, Headers: key("agent-1"), Body: agentBody,
			ExpectedStatus: 201, NotExpected: []string{agentID}}.Test(t, b.H)
	})
}
