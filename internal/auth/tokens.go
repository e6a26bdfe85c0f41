package auth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/ids"
)

// accessClaims are the claims of an access token.
type accessClaims struct {
	jwt.RegisteredClaims
	SessionID    string   `json:"sid"`
	Roles        []string `json:"roles"`
	AAL          string   `json:"aal"`
	IssuedMicros int64    `json:"iat_us"` // iat to the microsecond, for revocation checks
}

// tokenIssuer signs and verifies access tokens. Verification results are
// cached by token so a client reusing its token pays for the signature
// check once; expiry is still checked on every use and revocation is
// checked by the caller.
type tokenIssuer struct {
	keys     *keySet
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
	parser   *jwt.Parser

	mu    sync.RWMutex
	cache map[string]*accessClaims
}

const verifiedCacheSize = 50_000

func newTokenIssuer(keys *keySet, issuer, audience string, ttl time.Duration, now func() time.Time) *tokenIssuer {
	return &tokenIssuer{
		keys: keys, issuer: issuer, audience: audience, ttl: ttl, now: now,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithIssuer(issuer), jwt.WithAudience(audience),
			jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
			jwt.WithLeeway(30*time.Second), jwt.WithTimeFunc(now),
		),
		cache: map[string]*accessClaims{},
	}
}

type issueParams struct {
	UserID    string
	SessionID string
	Role      string
	AAL       string
}

// issue signs a new access token and returns it with its lifetime.
func (t *tokenIssuer) issue(ctx context.Context, p issueParams) (string, *accessClaims, error) {
	kid, key, err := t.keys.signer(ctx)
	if err != nil {
		return "", nil, err
	}
	now := t.now()
	c := &accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: t.issuer, Subject: p.UserID, Audience: jwt.ClaimStrings{t.audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)), IssuedAt: jwt.NewNumericDate(now), ID: ids.New(),
		},
		SessionID: p.SessionID, Roles: []string{p.Role}, AAL: p.AAL, IssuedMicros: now.UnixMicro(),
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		return "", nil, fmt.Errorf("auth: sign: %w", err)
	}
	return s, c, nil
}

var errBadToken = apperr.New(apperr.Unauthenticated, "invalid or expired token")

// verify checks signature, algorithm, issuer, audience and expiry.
func (t *tokenIssuer) verify(ctx context.Context, raw string) (*accessClaims, error) {
	t.mu.RLock()
	c, hit := t.cache[raw]
	t.mu.RUnlock()
	if hit {
		if !c.ExpiresAt.After(t.now().Add(-30 * time.Second)) {
			return nil, errBadToken
		}
		return c, nil
	}
	c, err := t.verifySignature(ctx, raw)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if len(t.cache) >= verifiedCacheSize {
		// Drop about a tenth; map iteration order is random enough.
		n := 0
		for k := range t.cache {
			delete(t.cache, k)
			if n++; n >= verifiedCacheSize/10 {
				break
			}
		}
	}
	t.cache[raw] = c
	t.mu.Unlock()
	return c, nil
}

// verifySignature does the full check, without the cache.
func (t *tokenIssuer) verifySignature(ctx context.Context, raw string) (*accessClaims, error) {
	c := &accessClaims{}
	_, err := t.parser.ParseWithClaims(raw, c, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		pub, ok := t.keys.publicKey(ctx, kid)
		if !ok {
			return nil, errors.New("unknown key id")
		}
		return ed25519.PublicKey(pub), nil
	})
	if err != nil || c.Subject == "" || c.ID == "" {
		return nil, errBadToken
	}
	return c, nil
}
