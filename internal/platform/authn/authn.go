// Package authn describes who is making a request: the Principal that the
// auth feature's middleware puts in the context after checking a token or
// API key. Other features read it here, so they need not import auth.
// Whether the principal may do something is decided by each feature's
// service, using these facts.
package authn

import (
	"context"
	"slices"
	"time"

	"github.com/pulse-run/pulse/internal/platform/apperr"
)

// Roles.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
)

// Scopes an API key can carry. A session (signed-in user) has every scope
// its role allows.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
	ScopeAdmin = "admin"
)

// AllScopes lists the scopes in order of power.
var AllScopes = []string{ScopeRead, ScopeWrite, ScopeAdmin}

// Principal is an authenticated caller.
type Principal struct {
	UserID    string
	Role      string
	SessionID string   // set for access tokens
	TokenID   string   // the access token's jti
	APIKeyID  string   // set for API keys
	Scopes    []string // API keys: the key's scopes; sessions: nil (all the role allows)
	AAL       string   // authenticator assurance: aal1 (password), aal2 (MFA)
	ExpiresAt time.Time
}

// IsAdmin reports whether the principal acts with admin rights: the user is
// an admin and, for an API key, the key has the admin scope.
func (p *Principal) IsAdmin() bool {
	return p.Role == RoleAdmin && p.Can(ScopeAdmin)
}

// Can reports whether the credential carries scope. Sessions carry all.
func (p *Principal) Can(scope string) bool {
	if p.APIKeyID == "" {
		return true
	}
	return slices.Contains(p.Scopes, scope)
}

// IsSession reports whether the caller signed in (rather than using an API
// key). Account-level changes require a session.
func (p *Principal) IsSession() bool { return p.SessionID != "" }

type key struct{}

// With returns ctx carrying p.
func With(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, key{}, p)
}

// From returns the principal in ctx, if any.
func From(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(key{}).(*Principal)
	return p, ok && p != nil
}

// Require returns the principal or an Unauthenticated error.
func Require(ctx context.Context) (*Principal, error) {
	p, ok := From(ctx)
	if !ok {
		return nil, apperr.New(apperr.Unauthenticated, "authentication required")
	}
	return p, nil
}

// RequireScope returns the principal if its credential carries scope.
func RequireScope(ctx context.Context, scope string) (*Principal, error) {
	p, err := Require(ctx)
	if err != nil {
		return nil, err
	}
	if !p.Can(scope) {
		return nil, apperr.Errorf(apperr.PermissionDenied, "this API key lacks the %q scope", scope)
	}
	return p, nil
}

// RequireAdmin returns the principal if it acts with admin rights.
func RequireAdmin(ctx context.Context) (*Principal, error) {
	p, err := Require(ctx)
	if err != nil {
		return nil, err
	}
	if !p.IsAdmin() {
		return nil, apperr.New(apperr.PermissionDenied, "admin rights required")
	}
	return p, nil
}
