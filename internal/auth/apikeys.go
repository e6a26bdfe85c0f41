package auth

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/audit"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/ids"
)

// apiKeyPrefix starts every API key, so a leaked one is recognisable (secret
// scanners) and the bearer middleware can tell it from a JWT.
const apiKeyPrefix = "pk_"

// CreateAPIKeyParams describes a new key.
type CreateAPIKeyParams struct {
	Name      string
	Scopes    []string
	ExpiresIn time.Duration // 0: never
}

// CreatedAPIKey is a new key with its secret, shown once.
type CreatedAPIKey struct {
	APIKey
	Secret string
}

// CreateAPIKey makes a key for the signed-in user. Only a session may create
// keys (a key cannot mint keys), and only admins may grant the admin scope.
func (s *Service) CreateAPIKey(ctx context.Context, p CreateAPIKeyParams) (*CreatedAPIKey, error) {
	pr, err := authn.Require(ctx)
	if err != nil {
		return nil, err
	}
	if !pr.IsSession() {
		return nil, apperr.New(apperr.PermissionDenied, "API keys can only be created from a signed-in session")
	}
	name := strings.TrimSpace(p.Name)
	if name == "" || len(name) > 100 {
		return nil, apperr.InvalidField("body.name", "must be 1 to 100 characters")
	}
	if len(p.Scopes) == 0 {
		p.Scopes = []string{authn.ScopeRead}
	}
	var scopes []string
	for _, sc := range p.Scopes {
		if !slices.Contains(authn.AllScopes, sc) {
			return nil, apperr.InvalidField("body.scopes", "each scope must be one of read, write, admin")
		}
		if sc == authn.ScopeAdmin && pr.Role != authn.RoleAdmin {
			return nil, apperr.New(apperr.PermissionDenied, "only admins may create keys with the admin scope")
		}
		if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	if p.ExpiresIn < 0 {
		return nil, apperr.InvalidField("body.expires_in_days", "must not be negative")
	}
	now := s.now().UTC()
	secret := newSecret()
	id := ids.New()
	prefix := apiKeyPrefix + strings.ReplaceAll(id[len(id)-12:], "-", "")[:8]
	full := prefix + "_" + secret
	k := &APIKey{ID: id, UserID: pr.UserID, Name: name, Prefix: prefix, KeyHash: hashSecret(full), Scopes: strings.Join(scopes, ","), CreatedAt: now}
	if p.ExpiresIn > 0 {
		exp := now.Add(p.ExpiresIn)
		k.ExpiresAt = &exp
	}
	err = s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := s.store.createAPIKey(ctx, tx, k); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "api_key.create", ActorID: pr.UserID, SubjectID: pr.UserID,
			Details: map[string]any{"key_id": k.ID, "prefix": k.Prefix, "scopes": scopes}})
	})
	if err != nil {
		return nil, err
	}
	return &CreatedAPIKey{APIKey: *k, Secret: full}, nil
}

// ListAPIKeys lists the caller's live keys (never their secrets).
func (s *Service) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, err
	}
	return s.store.apiKeys(ctx, pr.UserID)
}

// RevokeAPIKey revokes one of the caller's keys; another user's key is "not
// found".
func (s *Service) RevokeAPIKey(ctx context.Context, id string) error {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := s.store.revokeAPIKey(ctx, tx, pr.UserID, id, s.now().UTC()); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "api_key.revoke", ActorID: pr.UserID, SubjectID: pr.UserID, Details: map[string]any{"key_id": id}})
	})
}

func (s *Service) authenticateAPIKey(ctx context.Context, secret string) (*authn.Principal, error) {
	bad := apperr.New(apperr.Unauthenticated, "invalid API key")
	if len(secret) > 200 {
		return nil, bad
	}
	k, u, err := s.store.apiKeyByHash(ctx, hashSecret(secret))
	if apperr.Is(err, apperr.NotFound) {
		return nil, bad
	}
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	if !u.Active || (k.ExpiresAt != nil && !k.ExpiresAt.After(now)) {
		return nil, bad
	}
	// Record use at most once a minute: a busy key must not turn every read
	// into a write.
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > time.Minute {
		if err := s.store.touchAPIKey(ctx, k.ID, now); err != nil {
			s.log.WarnContext(ctx, "record API key use", "err", err)
		}
	}
	return &authn.Principal{UserID: u.ID, Role: u.Role, APIKeyID: k.ID, Scopes: strings.Split(k.Scopes, ","), AAL: "aal1"}, nil
}
