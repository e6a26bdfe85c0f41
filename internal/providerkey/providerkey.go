// Package providerkey keeps users' own model provider keys ("bring your own
// key"): encrypted by the vault, shown masked, and used for that user's runs
// in place of the platform's key.
package providerkey

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/platform/outbound"
	"github.com/pulse-run/pulse/internal/platform/vault"
)

// Key is a stored provider key.
type Key struct {
	bun.BaseModel `bun:"table:provider_keys"`

	ID        string    `bun:"id,pk"`
	OwnerID   string    `bun:"owner_id,notnull"`
	Provider  string    `bun:"provider,notnull"`
	Label     string    `bun:"label,notnull"`
	KeyEnc    string    `bun:"key_enc,notnull"`
	KeyHint   string    `bun:"key_hint,notnull"` // the last 4 characters
	BaseURL   string    `bun:"base_url,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
}

// Masked shows a key without revealing it.
func (k *Key) Masked() string { return "…" + k.KeyHint }

// Factory builds a provider from a user's key. The HTTP client it is given
// only reaches public addresses: a user's base URL must not lead inside.
type Factory func(provider, key, baseURL string, client *http.Client) (llm.Provider, error)

// Sealed is the encrypted column of provider keys, for key rotation.
var Sealed = vault.Sealed{Table: "provider_keys", Column: "key_enc", AADPrefix: "provider_key:"}

// Service holds the rules.
type Service struct {
	db      *db.DB
	vault   *vault.Vault
	factory Factory
	policy  *outbound.Policy
	client  *http.Client
	known   []string
	now     func() time.Time
}

// Params builds the service.
type Params struct {
	DB      *db.DB
	Vault   *vault.Vault
	Factory Factory // nil: keys are stored but cannot be used
	// Outbound judges users' base URLs when saved (nil: public only).
	Outbound  *outbound.Policy
	Client    *http.Client // for user providers: the policy's (nil: built from it)
	Providers []string     // the provider names a key may be for
}

// New returns the service.
func New(p Params) *Service {
	if p.Outbound == nil {
		p.Outbound = outbound.Public()
	}
	if p.Client == nil {
		p.Client = p.Outbound.Client(outbound.ClientOptions{Timeout: 5 * time.Minute})
	}
	return &Service{db: p.DB, vault: p.Vault, factory: p.Factory, policy: p.Outbound, client: p.Client, known: p.Providers, now: time.Now}
}

// CreateParams is a new key.
type CreateParams struct {
	Provider string
	Key      string
	Label    string
	BaseURL  string
}

// Create stores the caller's key for a provider (one per provider).
func (s *Service) Create(ctx context.Context, p CreateParams) (*Key, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(s.known, p.Provider) {
		return nil, apperr.InvalidField("body.provider", "must be one of "+strings.Join(s.known, ", "))
	}
	key := strings.TrimSpace(p.Key)
	if len(key) < 8 || len(key) > 500 {
		return nil, apperr.InvalidField("body.key", "must be 8 to 500 characters")
	}
	if p.BaseURL != "" {
		if err := s.policy.CheckURL(p.BaseURL); err != nil {
			return nil, apperr.InvalidField("body.base_url", err.Error())
		}
	}
	id := ids.New()
	enc, err := s.vault.Encrypt([]byte(key), "provider_key:"+id)
	if err != nil {
		return nil, err
	}
	k := &Key{ID: id, OwnerID: pr.UserID, Provider: p.Provider, Label: strings.TrimSpace(p.Label), KeyEnc: enc,
		KeyHint: key[len(key)-4:], BaseURL: strings.TrimSuffix(p.BaseURL, "/"), CreatedAt: s.now().UTC()}
	if _, err := s.db.W.NewInsert().Model(k).Exec(ctx); err != nil {
		if db.IsUniqueViolation(err) {
			return nil, apperr.Errorf(apperr.Conflict, "you already have a %s key; delete it first", p.Provider)
		}
		return nil, fmt.Errorf("providerkey: create: %w", err)
	}
	return k, nil
}

// List returns the caller's keys (masked).
func (s *Service) List(ctx context.Context) ([]Key, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, err
	}
	var out []Key
	err = s.db.R.NewSelect().Model(&out).Where("owner_id = ?", pr.UserID).Order("provider").Scan(ctx)
	return out, err
}

// Delete removes one of the caller's keys.
func (s *Service) Delete(ctx context.Context, id string) error {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return err
	}
	return s.db.DeleteOwned(ctx, db.DeleteOwnedParams{Model: (*Key)(nil), ID: id, OwnerID: pr.UserID, What: "provider key"})
}

// ProvidersFor builds the providers of a user's own keys, for their runs.
func (s *Service) ProvidersFor(ctx context.Context, userID string) (map[string]llm.Provider, error) {
	if s.factory == nil {
		return nil, nil
	}
	var keys []Key
	if err := s.db.R.NewSelect().Model(&keys).Where("owner_id = ?", userID).Scan(ctx); err != nil {
		return nil, err
	}
	out := make(map[string]llm.Provider, len(keys))
	for _, k := range keys {
		key, err := s.vault.Decrypt(ctx, k.KeyEnc, "provider_key:"+k.ID)
		if err != nil {
			return nil, err
		}
		p, err := s.factory(k.Provider, string(key), k.BaseURL, s.client)
		if err != nil || p == nil {
			continue // a provider this build cannot use: the platform's applies
		}
		out[k.Provider] = p
	}
	return out, nil
}
