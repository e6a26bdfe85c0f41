// Package vault encrypts secrets before they touch the database: signing
// keys, OAuth tokens, users' provider keys. It is envelope encryption:
// data keys (AES-256-GCM) live in the vault_keys table, each wrapped by a key
// derived from PULSE_SECRET_KEY, and every ciphertext names the data key that
// made it. Rotation adds a new data key; old ones keep decrypting until their
// ciphertexts are re-encrypted.
package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/ids"
)

const prefix = "v1"

// ErrDecrypt means a ciphertext is corrupt, was made for another context, or
// was made under another PULSE_SECRET_KEY.
var ErrDecrypt = errors.New("vault: cannot decrypt")

type keyRow struct {
	bun.BaseModel `bun:"table:vault_keys"`

	ID        string     `bun:"id,pk"`
	KeyEnc    string     `bun:"key_enc,notnull"`
	CreatedAt time.Time  `bun:"created_at,notnull"`
	RetiredAt *time.Time `bun:"retired_at"`
}

// Vault encrypts and decrypts with the current key ring.
type Vault struct {
	db  *db.DB
	kek cipher.AEAD

	mu     sync.RWMutex
	keys   map[string]cipher.AEAD
	active string
}

// Open loads the key ring, creating the first data key if there is none.
func Open(ctx context.Context, d *db.DB, secretKey string) (*Vault, error) {
	if len(secretKey) < 32 {
		return nil, errors.New("vault: secret key must be at least 32 characters")
	}
	k, err := hkdf.Key(sha256.New, []byte(secretKey), nil, "pulse/vault/kek/v1", 32)
	if err != nil {
		return nil, err
	}
	kek, err := newAEAD(k)
	if err != nil {
		return nil, err
	}
	v := &Vault{db: d, kek: kek}
	if err := v.reload(ctx); err != nil {
		return nil, err
	}
	if v.active == "" {
		if _, err := v.Rotate(ctx); err != nil {
			return nil, err
		}
	}
	return v, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// reload reads every data key. The newest unretired key becomes active.
func (v *Vault) reload(ctx context.Context) error {
	var rows []keyRow
	if err := v.db.W.NewSelect().Model(&rows).Order("created_at", "id").Scan(ctx); err != nil {
		return fmt.Errorf("vault: load keys: %w", err)
	}
	keys := make(map[string]cipher.AEAD, len(rows))
	active := ""
	for _, r := range rows {
		raw, err := open(v.kek, r.KeyEnc, "vault_key:"+r.ID)
		if err != nil {
			return fmt.Errorf("vault: data key %s does not open with this PULSE_SECRET_KEY (was the key changed?): %w", r.ID, err)
		}
		a, err := newAEAD(raw)
		if err != nil {
			return err
		}
		keys[r.ID] = a
		if r.RetiredAt == nil {
			active = r.ID
		}
	}
	v.mu.Lock()
	v.keys, v.active = keys, active
	v.mu.Unlock()
	return nil
}

// Rotate creates a new data key and makes it the one that encrypts. Callers
// then re-encrypt their ciphertexts (Rewrap) at leisure.
func (v *Vault) Rotate(ctx context.Context) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	id := ids.New()
	wrapped, err := seal(v.kek, id, raw, "vault_key:"+id)
	if err != nil {
		return "", err
	}
	row := &keyRow{ID: id, KeyEnc: wrapped, CreatedAt: time.Now().UTC()}
	if _, err := v.db.W.NewInsert().Model(row).Exec(ctx); err != nil {
		return "", fmt.Errorf("vault: store key: %w", err)
	}
	return id, v.reload(ctx)
}

// Encrypt seals plaintext. aad names what the secret is for (e.g.
// "signing_key:<id>"): a ciphertext copied to another purpose or row will not
// decrypt there.
func (v *Vault) Encrypt(plaintext []byte, aad string) (string, error) {
	v.mu.RLock()
	id, a := v.active, v.keys[v.active]
	v.mu.RUnlock()
	return seal(a, id, plaintext, aad)
}

// Decrypt opens a ciphertext made by Encrypt with the same aad. A key made by
// another process since this one loaded its ring is fetched once.
func (v *Vault) Decrypt(ctx context.Context, ciphertext, aad string) ([]byte, error) {
	id, _, ok := split(ciphertext)
	if !ok {
		return nil, ErrDecrypt
	}
	v.mu.RLock()
	a := v.keys[id]
	v.mu.RUnlock()
	if a == nil {
		if err := v.reload(ctx); err != nil {
			return nil, err
		}
		v.mu.RLock()
		a = v.keys[id]
		v.mu.RUnlock()
		if a == nil {
			return nil, fmt.Errorf("%w: unknown key %s", ErrDecrypt, id)
		}
	}
	return open(a, ciphertext, aad)
}

// Stale reports whether a ciphertext was made under a key other than the
// active one, i.e. should be re-encrypted after a rotation.
func (v *Vault) Stale(ciphertext string) bool {
	id, _, _ := split(ciphertext)
	v.mu.RLock()
	defer v.mu.RUnlock()
	return id != v.active
}

// ActiveKeyID names the key Encrypt uses now.
func (v *Vault) ActiveKeyID() string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.active
}

func seal(a cipher.AEAD, keyID string, plaintext []byte, aad string) (string, error) {
	nonce := make([]byte, a.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	ct := a.Seal(nonce, nonce, plaintext, []byte(keyID+"|"+aad))
	return prefix + ":" + keyID + ":" + base64.RawURLEncoding.EncodeToString(ct), nil
}

func open(a cipher.AEAD, ciphertext, aad string) ([]byte, error) {
	id, body, ok := split(ciphertext)
	if !ok {
		return nil, ErrDecrypt
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < a.NonceSize()+a.Overhead() {
		return nil, ErrDecrypt
	}
	pt, err := a.Open(nil, raw[:a.NonceSize()], raw[a.NonceSize():], []byte(id+"|"+aad))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

func split(ciphertext string) (keyID, body string, ok bool) {
	parts := strings.SplitN(ciphertext, ":", 3)
	if len(parts) != 3 || parts[0] != prefix {
		return "", "", false
	}
	return parts[1], parts[2], true
}

// Rewrap re-encrypts ciphertext under the active key if it was made under
// another; changed says whether the caller must store the new value.
func (v *Vault) Rewrap(ctx context.Context, ciphertext, aad string) (string, bool, error) {
	if ciphertext == "" || !v.Stale(ciphertext) {
		return ciphertext, false, nil
	}
	pt, err := v.Decrypt(ctx, ciphertext, aad)
	if err != nil {
		return "", false, err
	}
	out, err := v.Encrypt(pt, aad)
	return out, err == nil, err
}
