package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/audit"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/kv"
	"github.com/pulse-run/pulse/internal/platform/mail"
	"github.com/pulse-run/pulse/internal/platform/ratelimit"
	"github.com/pulse-run/pulse/internal/platform/vault"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type svcBundle struct {
	svc   *Service
	db    *db.DB
	clock *fakeClock
	audit *audit.Log
	mail  *mailbox
}

// mailbox records messages as they are queued (whether or not the
// transaction commits, which these tests do not depend on).
type mailbox struct {
	mu  sync.Mutex
	got []mail.Message
}

func (m *mailbox) SendTx(_ context.Context, _ *db.Tx, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.got = append(m.got, msg)
	return nil
}

// setupService builds the service on a real database with a clock the test
// moves.
func setupService(t testing.TB, d *db.DB) *svcBundle {
	t.Helper()
	ctx := context.Background()
	v, err := vault.Open(ctx, d, "service-test-secret-0123456789abcdef")
	require.NoError(t, err)
	clock := &fakeClock{t: time.Now().UTC()}
	log := audit.New(d)
	box := &mailbox{}
	svc, err := New(ctx, Config{Issuer: "https://pulse.test", Audience: "pulse", AccessTTL: 15 * time.Minute, SessionTTL: 24 * time.Hour,
		RefreshGrace: 10 * time.Second, AppURL: "https://app.test", Hash: testParams, Limits: DefaultLimits},
		Deps{DB: d, Vault: v, KV: kv.New(d, clock.Now), Audit: log, Limiter: ratelimit.NewMemory(clock.Now), Mailer: box, Now: clock.Now})
	require.NoError(t, err)
	return &svcBundle{svc: svc, db: d, clock: clock, audit: log, mail: box}
}

func (b *svcBundle) user(t testing.TB) (*User, *Tokens) {
	t.Helper()
	ctx := context.Background()
	u, err := b.svc.CreateUser(ctx, RegisterParams{Email: "u" + time.Now().Format("150405.000000") + "@example.com", Password: "correct horse battery"})
	require.NoError(t, err)
	tok, err := b.svc.PasswordLogin(ctx, u.Email, "correct horse battery")
	require.NoError(t, err)
	return u, tok
}

func TestRefreshReuseAfterGraceRevokesTheFamily(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		b := setupService(t, d)
		u, first := b.user(t)
		second, err := b.svc.Refresh(ctx, first.RefreshToken)
		require.NoError(t, err)

		b.clock.Advance(11 * time.Second) // past the grace window
		_, err = b.svc.Refresh(ctx, first.RefreshToken)
		require.True(t, apperr.Is(err, apperr.Unauthenticated), "got %v", err)

		// The thief's replay killed the whole family, the legitimate
		// successor included, and left an audit record.
		_, err = b.svc.Refresh(ctx, second.RefreshToken)
		require.True(t, apperr.Is(err, apperr.Unauthenticated))
		_, err = b.svc.Authenticate(ctx, second.AccessToken)
		require.True(t, apperr.Is(err, apperr.Unauthenticated), "the session's access tokens die too")
		events, _, err := b.audit.List(ctx, audit.Filter{Action: "auth.refresh_reused", SubjectID: u.ID})
		require.NoError(t, err)
		require.Len(t, events, 1)
		require.Equal(t, audit.Failure, events[0].Outcome)
	})
}

func TestConcurrentRefreshGetsOneSuccessor(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		b := setupService(t, d)
		_, first := b.user(t)
		const n = 4
		results := make([]*Tokens, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { results[i], errs[i] = b.svc.Refresh(ctx, first.RefreshToken) })
		}
		wg.Wait()
		for i := range n {
			require.NoError(t, errs[i])
			require.Equal(t, results[0].RefreshToken, results[i].RefreshToken, "duplicates within the grace window share one successor")
		}
		_, err := b.svc.Refresh(ctx, results[0].RefreshToken)
		require.NoError(t, err, "and that successor works")
	})
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		b := setupService(t, d)
		_, tok := b.user(t)
		b.clock.Advance(25 * time.Hour)
		_, err := b.svc.Refresh(context.Background(), tok.RefreshToken)
		require.True(t, apperr.Is(err, apperr.Unauthenticated))
	})
}

func TestTokenVerification(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		b := setupService(t, d)
		u, tok := b.user(t)

		p, err := b.svc.Authenticate(ctx, tok.AccessToken)
		require.NoError(t, err)
		require.Equal(t, u.ID, p.UserID)
		require.Equal(t, authn.RoleUser, p.Role)
		require.Equal(t, "aal1", p.AAL)

		// Signed by the right key but wrong in some claim.
		kid, key, err := b.svc.keys.signer(ctx)
		require.NoError(t, err)
		now := b.clock.Now()
		sign := func(c jwt.Claims, k any, m jwt.SigningMethod, kid string) string {
			tk := jwt.NewWithClaims(m, c)
			tk.Header["kid"] = kid
			s, err := tk.SignedString(k)
			require.NoError(t, err)
			return s
		}
		claims := func(mut func(*accessClaims)) *accessClaims {
			c := &accessClaims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "https://pulse.test", Subject: u.ID, Audience: jwt.ClaimStrings{"pulse"},
				ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now), ID: "j-" + now.String()}, SessionID: "s", Roles: []string{"admin"}}
			mut(c)
			return c
		}
		_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
		cases := map[string]string{
			"expired":        sign(claims(func(c *accessClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute)) }), key, jwt.SigningMethodEdDSA, kid),
			"wrong audience": sign(claims(func(c *accessClaims) { c.Audience = jwt.ClaimStrings{"someone-else"} }), key, jwt.SigningMethodEdDSA, kid),
			"wrong issuer":   sign(claims(func(c *accessClaims) { c.Issuer = "https://evil.test" }), key, jwt.SigningMethodEdDSA, kid),
			"no expiry":      sign(claims(func(c *accessClaims) { c.ExpiresAt = nil }), key, jwt.SigningMethodEdDSA, kid),
			"other key":      sign(claims(func(*accessClaims) {}), otherKey, jwt.SigningMethodEdDSA, kid),
			"unknown kid":    sign(claims(func(*accessClaims) {}), key, jwt.SigningMethodEdDSA, "nope"),
			"HS256 with the public key as secret": sign(claims(func(*accessClaims) {}),
				[]byte(b.svc.keys.keys()[0].X), jwt.SigningMethodHS256, kid),
		}
		for name, raw := range cases {
			_, err := b.svc.Authenticate(ctx, raw)
			require.True(t, apperr.Is(err, apperr.Unauthenticated), "%s: got %v", name, err)
		}

		// A cached token still expires.
		b.clock.Advance(16 * time.Minute)
		_, err = b.svc.Authenticate(ctx, tok.AccessToken)
		require.True(t, apperr.Is(err, apperr.Unauthenticated))
	})
}

func TestSigningKeyRotationKeepsTokensValid(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		b := setupService(t, d)
		_, before := b.user(t)
		oldKID := b.svc.JWKS()[0].Kid

		newKID, err := b.svc.RotateSigningKey(ctx)
		require.NoError(t, err)
		require.NotEqual(t, oldKID, newKID)
		require.Len(t, b.svc.JWKS(), 2, "the old key stays published")

		_, err = b.svc.Authenticate(ctx, before.AccessToken)
		require.NoError(t, err, "tokens signed before the rotation still work")
		_, after := b.user(t)
		tk, _, err := jwt.NewParser().ParseUnverified(after.AccessToken, &accessClaims{})
		require.NoError(t, err)
		require.Equal(t, newKID, tk.Header["kid"])

		// A second process on the same database verifies both.
		other := setupService(t, d)
		_, err = other.svc.Authenticate(ctx, before.AccessToken)
		require.NoError(t, err)
		_, err = other.svc.Authenticate(ctx, after.AccessToken)
		require.NoError(t, err)

		// Vault rotation: secrets are re-encrypted and still open.
		vk, err := b.svc.vault.Rotate(ctx)
		require.NoError(t, err)
		n, err := b.svc.RewrapSecrets(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		require.NoError(t, b.svc.keys.load(ctx))
		require.NotEmpty(t, vk)
		_, again := b.user(t)
		_, err = other.svc.Authenticate(ctx, again.AccessToken)
		require.NoError(t, err)
	})
}
