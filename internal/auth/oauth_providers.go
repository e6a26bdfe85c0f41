package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/pulse-run/pulse/internal/platform/outbound"
)

// Provider is one external identity provider. The constructors fill in the
// real endpoints; tests point them at a local fake that speaks the same
// protocol.
type Provider struct {
	Name         string // google, github, microsoft
	ClientID     string
	ClientSecret string
	AuthURL      string
	TokenURL     string
	Scopes       []string

	// OIDC providers: the id_token is verified against JWKSURL. Issuer may
	// hold {tenantid}, filled from the token's tid claim (Microsoft's
	// multi-tenant endpoints).
	Issuer  string
	JWKSURL string

	// OAuth-only providers (GitHub): the profile and verified emails.
	UserURL   string
	EmailsURL string

	HTTPClient *http.Client

	once     sync.Once
	verifier *oidc.IDTokenVerifier
}

// GoogleProvider is Google's OpenID Connect.
func GoogleProvider(clientID, secret string) *Provider {
	return &Provider{Name: "google", ClientID: clientID, ClientSecret: secret,
		AuthURL: "https://accounts.google.com/o/oauth2/v2/auth", TokenURL: "https://oauth2.googleapis.com/token",
		Scopes: []string{"openid", "email", "profile"}, Issuer: "https://accounts.google.com", JWKSURL: "https://www.googleapis.com/oauth2/v3/certs"}
}

// MicrosoftProvider is the Microsoft identity platform (v2.0). tenant is
// "common", "organizations", "consumers" or a tenant id.
func MicrosoftProvider(clientID, secret, tenant string) *Provider {
	base := "https://login.microsoftonline.com/" + tenant
	issuer := "https://login.microsoftonline.com/{tenantid}/v2.0"
	if tenant != "common" && tenant != "organizations" && tenant != "consumers" {
		issuer = base + "/v2.0"
	}
	return &Provider{Name: "microsoft", ClientID: clientID, ClientSecret: secret,
		AuthURL: base + "/oauth2/v2.0/authorize", TokenURL: base + "/oauth2/v2.0/token",
		Scopes: []string{"openid", "email", "profile", "offline_access"}, Issuer: issuer, JWKSURL: base + "/discovery/v2.0/keys"}
}

// GitHubProvider is GitHub's OAuth app flow (GitHub has no OIDC for users).
func GitHubProvider(clientID, secret string) *Provider {
	return &Provider{Name: "github", ClientID: clientID, ClientSecret: secret,
		AuthURL: "https://github.com/login/oauth/authorize", TokenURL: "https://github.com/login/oauth/access_token",
		Scopes: []string{"read:user", "user:email"}, UserURL: "https://api.github.com/user", EmailsURL: "https://api.github.com/user/emails"}
}

func (p *Provider) oauth2(redirectURI string) *oauth2.Config {
	return &oauth2.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret, RedirectURL: redirectURI, Scopes: p.Scopes,
		Endpoint: oauth2.Endpoint{AuthURL: p.AuthURL, TokenURL: p.TokenURL}}
}

func (p *Provider) client() *http.Client {
	if p.HTTPClient != nil {
		return p.HTTPClient
	}
	return signInClient
}

// signInClient reaches the sign-in providers through the outbound policy:
// their endpoints are public, nothing else may be.
var signInClient = outbound.Public().Client(outbound.ClientOptions{Timeout: 15 * time.Second})

func (p *Provider) isOIDC() bool { return p.JWKSURL != "" }

// authCodeURL is where the browser goes to sign in.
func (p *Provider) authCodeURL(redirectURI, state, verifier, nonce string) string {
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if p.isOIDC() {
		opts = append(opts, oidc.Nonce(nonce))
	}
	return p.oauth2(redirectURI).AuthCodeURL(state, opts...)
}

// externalIdentity is who the provider says signed in.
type externalIdentity struct {
	Provider      string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	AvatarURL     string
	AccessToken   string
	RefreshToken  string
}

var errProvider = errors.New("the identity provider refused the sign-in")

// exchange trades the code for tokens and establishes the identity.
func (p *Provider) exchange(ctx context.Context, redirectURI, code, verifier, nonce string) (*externalIdentity, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, p.client())
	tok, err := p.oauth2(redirectURI).Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, fmt.Errorf("%w: token exchange: %v", errProvider, err)
	}
	var id *externalIdentity
	if p.isOIDC() {
		id, err = p.fromIDToken(ctx, tok, nonce)
	} else {
		id, err = p.fromGitHub(ctx, tok.AccessToken)
	}
	if err != nil {
		return nil, err
	}
	id.Provider, id.AccessToken, id.RefreshToken = p.Name, tok.AccessToken, tok.RefreshToken
	id.Email = strings.ToLower(strings.TrimSpace(id.Email))
	return id, nil
}

func (p *Provider) fromIDToken(ctx context.Context, tok *oauth2.Token, nonce string) (*externalIdentity, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, fmt.Errorf("%w: no id_token", errProvider)
	}
	p.once.Do(func() {
		keyCtx := oidc.ClientContext(context.Background(), p.client())
		p.verifier = oidc.NewVerifier(p.Issuer, oidc.NewRemoteKeySet(keyCtx, p.JWKSURL),
			&oidc.Config{ClientID: p.ClientID, SkipIssuerCheck: strings.Contains(p.Issuer, "{tenantid}")})
	})
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: id_token: %v", errProvider, err)
	}
	if idt.Nonce != nonce {
		return nil, fmt.Errorf("%w: id_token nonce mismatch", errProvider)
	}
	var c struct {
		Email         string `json:"email"`
		EmailVerified any    `json:"email_verified"` // Google sends a bool, some providers a string
		Name          string `json:"name"`
		Picture       string `json:"picture"`
		TenantID      string `json:"tid"`
		DomainOwner   any    `json:"xms_edov"` // Microsoft: the email's domain is verified by its owner
		PreferredUser string `json:"preferred_username"`
	}
	if err := idt.Claims(&c); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", errProvider, err)
	}
	if strings.Contains(p.Issuer, "{tenantid}") {
		if c.TenantID == "" || idt.Issuer != strings.ReplaceAll(p.Issuer, "{tenantid}", c.TenantID) {
			return nil, fmt.Errorf("%w: id_token issuer %q", errProvider, idt.Issuer)
		}
	}
	id := &externalIdentity{Subject: idt.Subject, Email: c.Email, Name: c.Name, AvatarURL: c.Picture}
	switch p.Name {
	case "microsoft":
		// Microsoft does not assert email ownership; only a domain-verified
		// address counts. xms_edov speaks of the email claim alone:
		// preferred_username, the fallback, is never vouched for (a
		// tenant's user can set it to anything).
		id.EmailVerified = truthy(c.DomainOwner) && id.Email != ""
		if id.Email == "" {
			id.Email = c.PreferredUser
		}
	default:
		id.EmailVerified = truthy(c.EmailVerified)
	}
	return id, nil
}

func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		b, _ := strconv.ParseBool(x)
		return b
	}
	return false
}

func (p *Provider) fromGitHub(ctx context.Context, accessToken string) (*externalIdentity, error) {
	var user struct {
		ID        int64  `json:"id"`
		Login     string `json:"login"`
		Name      string `json:"name"`
		AvatarURL string `json:"avatar_url"`
	}
	if err := p.getJSON(ctx, p.UserURL, accessToken, &user); err != nil {
		return nil, err
	}
	var emails []struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}
	if err := p.getJSON(ctx, p.EmailsURL, accessToken, &emails); err != nil {
		return nil, err
	}
	if user.ID == 0 {
		return nil, fmt.Errorf("%w: no user id", errProvider)
	}
	id := &externalIdentity{Subject: strconv.FormatInt(user.ID, 10), Name: cmpOr(user.Name, user.Login), AvatarURL: user.AvatarURL}
	for _, e := range emails {
		if e.Primary {
			id.Email, id.EmailVerified = e.Email, e.Verified
		}
	}
	return id, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (p *Provider) getJSON(ctx context.Context, url, token string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/vnd.github+json")
	res, err := p.client().Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errProvider, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: %s answered %d", errProvider, url, res.StatusCode)
	}
	return json.Unmarshal(body, v)
}
