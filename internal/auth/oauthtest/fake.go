// Package oauthtest is a fake OAuth 2.0 / OpenID Connect provider for tests.
// It speaks the real wire formats: an authorization URL with state, nonce and
// a PKCE challenge; a token endpoint that checks the client, redirect URI,
// code (single use) and code_verifier; RS256-signed id_tokens with a JWKS
// endpoint; and GitHub's /user and /user/emails.
package oauthtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/auth"
	"github.com/pulse-run/pulse/internal/platform/outbound"
)

// User is who signs in at the fake.
type User struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	TenantID      string // Microsoft
	DomainOwner   bool   // Microsoft xms_edov
}

type grant struct {
	user        User
	challenge   string
	nonce       string
	redirectURI string
}

// Provider is a running fake.
type Provider struct {
	Kind     string // google, github or microsoft: which wire format
	Server   *httptest.Server
	ClientID string
	Secret   string

	key    *rsa.PrivateKey
	mu     sync.Mutex
	codes  map[string]grant
	tokens map[string]User // access token -> user (GitHub API)

	// Tamper, when set, alters each id_token's claims before signing
	// (tests of rejected tokens).
	Tamper func(jwt.MapClaims)
	// WrongKey signs id_tokens with a key not in the JWKS.
	WrongKey bool
}

// Start runs a fake of the given kind.
func Start(t testing.TB, kind string) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	p := &Provider{Kind: kind, ClientID: "client-" + kind, Secret: "secret-" + kind, key: key, codes: map[string]grant{}, tokens: map[string]User{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /user", p.ghUser)
	mux.HandleFunc("GET /user/emails", p.ghEmails)
	p.Server = httptest.NewServer(mux)
	t.Cleanup(p.Server.Close)
	return p
}

// issuer is what id_tokens say; Microsoft's names the tenant.
func (p *Provider) issuer(u User) string {
	if p.Kind == "microsoft" {
		return p.Server.URL + "/" + u.TenantID + "/v2.0"
	}
	return p.Server.URL
}

// loopback is the outbound policy with the fake's address allowed, as an
// operator would allow a private identity provider (PULSE_OUTBOUND_ALLOW):
// sign-in calls go through the production dialer, with no bypass.
var loopback = outbound.New(outbound.Options{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})

// Provider returns the auth.Provider configuration pointing at the fake.
func (p *Provider) Provider() *auth.Provider {
	base := p.Server.URL
	ap := &auth.Provider{Name: p.Kind, ClientID: p.ClientID, ClientSecret: p.Secret,
		AuthURL: base + "/authorize", TokenURL: base + "/token", Scopes: []string{"openid", "email"}, HTTPClient: loopback.Client(outbound.ClientOptions{Timeout: 15 * time.Second})}
	switch p.Kind {
	case "github":
		ap.UserURL, ap.EmailsURL = base+"/user", base+"/user/emails"
	case "microsoft":
		ap.Issuer, ap.JWKSURL = base+"/{tenantid}/v2.0", base+"/jwks"
	default:
		ap.Issuer, ap.JWKSURL = base, base+"/jwks"
	}
	return ap
}

// Authorize plays the browser at the provider: it checks the authorization
// URL Pulse built, signs u in, and returns the callback URL (path and query)
// the provider would redirect to.
func (p *Provider) Authorize(t *testing.T, authURL string, u User) string {
	t.Helper()
	au, err := url.Parse(authURL)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(authURL, p.Server.URL+"/authorize?"), authURL)
	q := au.Query()
	require.Equal(t, p.ClientID, q.Get("client_id"))
	require.Equal(t, "code", q.Get("response_type"))
	require.Equal(t, "S256", q.Get("code_challenge_method"), "PKCE")
	require.NotEmpty(t, q.Get("code_challenge"))
	require.NotEmpty(t, q.Get("state"))
	if p.Kind != "github" {
		require.NotEmpty(t, q.Get("nonce"), "OIDC nonce")
	}
	code := randomString()
	p.mu.Lock()
	p.codes[code] = grant{user: u, challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirectURI: q.Get("redirect_uri")}
	p.mu.Unlock()
	cb, err := url.Parse(q.Get("redirect_uri"))
	require.NoError(t, err)
	cq := url.Values{"code": {code}, "state": {q.Get("state")}}
	return cb.Path + "?" + cq.Encode()
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthErr(w, "invalid_request")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.ClientID || secret != p.Secret {
		w.WriteHeader(http.StatusUnauthorized)
		oauthErr(w, "invalid_client")
		return
	}
	p.mu.Lock()
	g, found := p.codes[r.PostForm.Get("code")]
	delete(p.codes, r.PostForm.Get("code")) // single use
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	switch {
	case r.PostForm.Get("grant_type") != "authorization_code", !found:
		oauthErr(w, "invalid_grant")
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		oauthErr(w, "invalid_grant") // PKCE verifier does not match
		return
	case r.PostForm.Get("redirect_uri") != g.redirectURI:
		oauthErr(w, "invalid_grant")
		return
	}
	access := randomString()
	p.mu.Lock()
	p.tokens[access] = g.user
	p.mu.Unlock()
	res := map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3600, "refresh_token": "r-" + randomString()}
	if p.Kind != "github" {
		res["id_token"] = p.idToken(g)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

func (p *Provider) idToken(g grant) string {
	now := time.Now()
	c := jwt.MapClaims{"iss": p.issuer(g.user), "sub": g.user.Subject, "aud": p.ClientID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"nonce": g.nonce, "email": g.user.Email, "name": g.user.Name}
	if p.Kind == "microsoft" {
		c["tid"] = g.user.TenantID
		if g.user.DomainOwner {
			c["xms_edov"] = true
		}
	} else {
		c["email_verified"] = g.user.EmailVerified
	}
	if p.Tamper != nil {
		p.Tamper(c)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	tok.Header["kid"] = "fake-key"
	key := p.key
	if p.WrongKey {
		key, _ = rsa.GenerateKey(rand.Reader, 2048)
	}
	s, err := tok.SignedString(key)
	if err != nil {
		panic(err)
	}
	return s
}

func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) {
	pub := p.key.PublicKey
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "fake-key", "alg": "RS256", "use": "sig",
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}

func (p *Provider) bearerUser(w http.ResponseWriter, r *http.Request) (User, bool) {
	p.mu.Lock()
	u, ok := p.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	p.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"message":"Bad credentials"}`))
	}
	return u, ok
}

func (p *Provider) ghUser(w http.ResponseWriter, r *http.Request) {
	u, ok := p.bearerUser(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"id": json.Number(u.Subject), "login": strings.ToLower(strings.ReplaceAll(u.Name, " ", "")), "name": u.Name,
		"avatar_url": "https://avatars.example.com/u/" + u.Subject})
}

func (p *Provider) ghEmails(w http.ResponseWriter, r *http.Request) {
	u, ok := p.bearerUser(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode([]map[string]any{
		{"email": "old-" + u.Email, "primary": false, "verified": true},
		{"email": u.Email, "primary": true, "verified": u.EmailVerified},
	})
}

func oauthErr(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	if code != "invalid_client" {
		w.WriteHeader(http.StatusBadRequest)
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

func randomString() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
