package auth

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCallbackIssuerCheck(t *testing.T) {
	t.Parallel()
	google := GoogleProvider("id", "secret")
	ms := MicrosoftProvider("id", "secret", "common")
	gh := GitHubProvider("id", "secret")
	for _, tc := range []struct {
		p    *Provider
		iss  string
		want bool
	}{
		{google, "https://accounts.google.com", true},
		{google, "https://accounts.google.com/", false},
		{google, "https://evil.example.com", false},
		{ms, "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0", true},
		{ms, "https://login.microsoftonline.com//v2.0", false},
		{ms, "https://login.microsoftonline.com/a/b/v2.0", false},
		{ms, "https://login.microsoftonline.com/v2.0", false},
		{ms, "https://evil.example.com/x/v2.0", false},
		{gh, "https://anything.example.com", true}, // no OIDC issuer to compare with
	} {
		require.Equal(t, tc.want, tc.p.issuedBy(tc.iss), "%s %q", tc.p.Name, tc.iss)
	}
}

func TestCallbackErrorCodeIsShownOnlyWhenWellFormed(t *testing.T) {
	t.Parallel()
	require.True(t, oauthErrorToken("access_denied"))
	require.True(t, oauthErrorToken("temporarily_unavailable"))
	for _, bad := range []string{"", `a"b`, `a\b`, "tab\there", "é", "new\nline", string(make([]byte, 65))} {
		require.False(t, oauthErrorToken(bad), "%q", bad)
	}
}
