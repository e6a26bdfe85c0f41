package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/platform/vault"
)

type signingKeyRow struct {
	bun.BaseModel `bun:"table:auth_signing_keys"`

	ID         string     `bun:"id,pk"`
	Alg        string     `bun:"alg,notnull"`
	PrivateEnc string     `bun:"private_enc,notnull"`
	PublicKey  string     `bun:"public_key,notnull"`
	CreatedAt  time.Time  `bun:"created_at,notnull"`
	RetiredAt  *time.Time `bun:"retired_at"`
}

// JWK is one public key in the JWKS document (RFC 8037 for Ed25519).
type JWK struct {
	Kty string `json:"kty" example:"OKP"`
	Crv string `json:"crv" example:"Ed25519"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg" example:"EdDSA"`
	Use string `json:"use" example:"sig"`
}

// keySet signs access tokens with the newest key and verifies with any key
// still published. A retired key stays published for one access-token
// lifetime (plus slack for processes that have not reloaded yet), so
// rotating keys logs nobody out.
type keySet struct {
	db      *db.DB
	vault   *vault.Vault
	publish time.Duration // how long a retired key stays valid

	mu       sync.RWMutex
	signKID  string
	signKey  ed25519.PrivateKey
	public   map[string]ed25519.PublicKey
	jwks     []JWK
	loadedAt time.Time
}

const keyReloadEvery = time.Minute

func newKeySet(ctx context.Context, d *db.DB, v *vault.Vault, accessTTL time.Duration) (*keySet, error) {
	k := &keySet{db: d, vault: v, publish: accessTTL + 2*keyReloadEvery}
	if err := k.load(ctx); err != nil {
		return nil, err
	}
	if k.signKey == nil {
		if _, err := k.rotate(ctx); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func (k *keySet) load(ctx context.Context) error {
	var rows []signingKeyRow
	cutoff := time.Now().UTC().Add(-k.publish)
	err := k.db.W.NewSelect().Model(&rows).
		Where("retired_at IS NULL OR retired_at > ?", cutoff).
		Order("created_at", "id").Scan(ctx)
	if err != nil {
		return fmt.Errorf("auth: load signing keys: %w", err)
	}
	public := map[string]ed25519.PublicKey{}
	var jwks []JWK
	var signKID string
	var signKey ed25519.PrivateKey
	for _, r := range rows {
		pub, err := base64.RawURLEncoding.DecodeString(r.PublicKey)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return fmt.Errorf("auth: signing key %s: bad public key", r.ID)
		}
		public[r.ID] = pub
		jwks = append(jwks, JWK{Kty: "OKP", Crv: "Ed25519", X: r.PublicKey, Kid: r.ID, Alg: "EdDSA", Use: "sig"})
		if r.RetiredAt == nil {
			seed, err := k.vault.Decrypt(ctx, r.PrivateEnc, "signing_key:"+r.ID)
			if err != nil {
				return fmt.Errorf("auth: signing key %s: %w", r.ID, err)
			}
			signKID, signKey = r.ID, ed25519.NewKeyFromSeed(seed)
		}
	}
	k.mu.Lock()
	k.signKID, k.signKey, k.public, k.jwks, k.loadedAt = signKID, signKey, public, jwks, time.Now()
	k.mu.Unlock()
	return nil
}

// rotate makes a new signing key and retires the others. Returns the new kid.
func (k *keySet) rotate(ctx context.Context) (string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	id := ids.New()
	enc, err := k.vault.Encrypt(priv.Seed(), "signing_key:"+id)
	if err != nil {
		return "", err
	}
	now := time.Now().UTC()
	err = k.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if _, err := tx.NewUpdate().Model((*signingKeyRow)(nil)).Set("retired_at = ?", now).Where("retired_at IS NULL").Exec(ctx); err != nil {
			return err
		}
		row := &signingKeyRow{ID: id, Alg: "EdDSA", PrivateEnc: enc, PublicKey: base64.RawURLEncoding.EncodeToString(pub), CreatedAt: now}
		_, err := tx.NewInsert().Model(row).Exec(ctx)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("auth: rotate signing key: %w", err)
	}
	return id, k.load(ctx)
}

// rewrap re-encrypts signing keys made under an older vault key.
func (k *keySet) rewrap(ctx context.Context) (int, error) {
	var rows []signingKeyRow
	if err := k.db.W.NewSelect().Model(&rows).Scan(ctx); err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rows {
		enc, changed, err := k.vault.Rewrap(ctx, r.PrivateEnc, "signing_key:"+r.ID)
		if err != nil {
			return n, err
		}
		if !changed {
			continue
		}
		if _, err := k.db.W.NewUpdate().Model((*signingKeyRow)(nil)).Set("private_enc = ?", enc).Where("id = ?", r.ID).Exec(ctx); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// signer returns the active key, reloading now and then so a rotation by
// another process is picked up.
func (k *keySet) signer(ctx context.Context) (string, ed25519.PrivateKey, error) {
	k.mu.RLock()
	kid, key, stale := k.signKID, k.signKey, time.Since(k.loadedAt) > keyReloadEvery
	k.mu.RUnlock()
	if stale || key == nil {
		if err := k.load(ctx); err != nil {
			return "", nil, err
		}
		k.mu.RLock()
		kid, key = k.signKID, k.signKey
		k.mu.RUnlock()
	}
	return kid, key, nil
}

// publicKey finds a verification key; an unknown kid triggers one reload,
// at most once per reload interval, in case another process rotated.
func (k *keySet) publicKey(ctx context.Context, kid string) (ed25519.PublicKey, bool) {
	k.mu.RLock()
	pub, ok := k.public[kid]
	recent := time.Since(k.loadedAt) < 5*time.Second
	k.mu.RUnlock()
	if ok || recent {
		return pub, ok
	}
	if err := k.load(ctx); err != nil {
		return nil, false
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	pub, ok = k.public[kid]
	return pub, ok
}

func (k *keySet) keys() []JWK {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return append([]JWK(nil), k.jwks...)
}
