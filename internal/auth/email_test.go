package auth

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
)

var tokenInLink = regexp.MustCompile(`https://app\.test/(verify-email|reset-password)\?token=([A-Za-z0-9_-]+)`)

func (b *svcBundle) lastLink(t *testing.T, to string) (kind, token string) {
	t.Helper()
	b.mail.mu.Lock()
	defer b.mail.mu.Unlock()
	for i := len(b.mail.got) - 1; i >= 0; i-- {
		if b.mail.got[i].To == to {
			m := tokenInLink.FindStringSubmatch(b.mail.got[i].Text)
			require.NotNil(t, m, b.mail.got[i].Text)
			return m[1], m[2]
		}
	}
	t.Fatalf("no mail to %s", to)
	return "", ""
}

func (b *svcBundle) mailCount() int {
	b.mail.mu.Lock()
	defer b.mail.mu.Unlock()
	return len(b.mail.got)
}

func TestEmailVerification(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		b := setupService(t, d)
		u, tok := b.user(t)
		kind, token := b.lastLink(t, u.Email)
		require.Equal(t, "verify-email", kind, "registration sends a verification link")

		require.True(t, apperr.Is(b.svc.VerifyEmail(ctx, "forged"), apperr.Invalid))
		require.NoError(t, b.svc.VerifyEmail(ctx, token))
		got, err := b.svc.store.userByID(ctx, d.R, u.ID)
		require.NoError(t, err)
		require.NotNil(t, got.EmailVerifiedAt)
		require.True(t, apperr.Is(b.svc.VerifyEmail(ctx, token), apperr.Invalid), "single use")

		p, err := b.svc.Authenticate(ctx, tok.AccessToken)
		require.NoError(t, err)
		err = b.svc.SendVerification(authn.With(ctx, p))
		require.True(t, apperr.Is(err, apperr.Conflict), "already verified: %v", err)

		// An unverified user asks again; the link expires after a day.
		u2, tok2 := b.user(t)
		p2, err := b.svc.Authenticate(ctx, tok2.AccessToken)
		require.NoError(t, err)
		require.NoError(t, b.svc.SendVerification(authn.With(ctx, p2)))
		_, token2 := b.lastLink(t, u2.Email)
		b.clock.Advance(25 * time.Hour)
		require.True(t, apperr.Is(b.svc.VerifyEmail(ctx, token2), apperr.Invalid), "expired")
	})
}

func TestPasswordReset(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		b := setupService(t, d)
		u, tok := b.user(t)

		before := b.mailCount()
		require.NoError(t, b.svc.ForgotPassword(ctx, "nobody@example.com"), "same answer for an unknown email")
		require.Equal(t, before, b.mailCount(), "and no mail")
		require.True(t, apperr.Is(b.svc.ForgotPassword(ctx, "not an email"), apperr.Invalid))

		require.NoError(t, b.svc.ForgotPassword(ctx, u.Email))
		kind, token := b.lastLink(t, u.Email)
		require.Equal(t, "reset-password", kind)

		require.True(t, apperr.Is(b.svc.ResetPassword(ctx, token, "short"), apperr.Invalid))
		require.NoError(t, b.svc.ResetPassword(ctx, token, "a brand new password"), "a rejected password does not burn the token")
		require.True(t, apperr.Is(b.svc.ResetPassword(ctx, token, "another new password"), apperr.Invalid), "single use")

		_, err := b.svc.Authenticate(ctx, tok.AccessToken)
		require.True(t, apperr.Is(err, apperr.Unauthenticated), "every session is signed out")
		_, err = b.svc.Refresh(ctx, tok.RefreshToken)
		require.True(t, apperr.Is(err, apperr.Unauthenticated))
		_, err = b.svc.PasswordLogin(ctx, u.Email, "correct horse battery")
		require.True(t, apperr.Is(err, apperr.Unauthenticated))
		_, err = b.svc.PasswordLogin(ctx, u.Email, "a brand new password")
		require.NoError(t, err)
		got, err := b.svc.store.userByID(ctx, d.R, u.ID)
		require.NoError(t, err)
		require.NotNil(t, got.EmailVerifiedAt, "the reset proved the inbox")

		require.NoError(t, b.svc.ForgotPassword(ctx, u.Email))
		_, late := b.lastLink(t, u.Email)
		b.clock.Advance(61 * time.Minute)
		require.True(t, apperr.Is(b.svc.ResetPassword(ctx, late, "yet another password"), apperr.Invalid), "expired after an hour")
	})
}

// A reset or a change of the password makes every other reset link still in
// someone's inbox worthless (issue 13, smaller finding 13a).
func TestFinding13aPasswordResetOrChangeInvalidatesOtherResetTokens(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		b := setupService(t, d)
		u, _ := b.user(t)

		b.clock.Advance(time.Second)
		require.NoError(t, b.svc.ForgotPassword(ctx, u.Email))
		_, first := b.lastLink(t, u.Email)
		require.NoError(t, b.svc.ForgotPassword(ctx, u.Email))
		_, second := b.lastLink(t, u.Email)
		require.NotEqual(t, first, second)

		b.clock.Advance(time.Second)
		require.NoError(t, b.svc.ResetPassword(ctx, second, "a brand new password"))
		require.True(t, apperr.Is(b.svc.ResetPassword(ctx, first, "the attacker's password"), apperr.Invalid),
			"the older link died with the reset")
		_, err := b.svc.PasswordLogin(ctx, u.Email, "the attacker's password")
		require.True(t, apperr.Is(err, apperr.Unauthenticated))

		// A change from a signed-in session does the same.
		b.clock.Advance(time.Second)
		require.NoError(t, b.svc.ForgotPassword(ctx, u.Email))
		_, third := b.lastLink(t, u.Email)
		b.clock.Advance(time.Second)
		tok, err := b.svc.PasswordLogin(ctx, u.Email, "a brand new password")
		require.NoError(t, err)
		p, err := b.svc.Authenticate(ctx, tok.AccessToken)
		require.NoError(t, err)
		require.NoError(t, b.svc.ChangePassword(authn.With(ctx, p), "a brand new password", "a changed password"))
		require.True(t, apperr.Is(b.svc.ResetPassword(ctx, third, "the attacker's password"), apperr.Invalid),
			"a link from before the change is dead")

		// A link asked for after the change works.
		b.clock.Advance(time.Second)
		require.NoError(t, b.svc.ForgotPassword(ctx, u.Email))
		_, fourth := b.lastLink(t, u.Email)
		require.NoError(t, b.svc.ResetPassword(ctx, fourth, "the owner's new password"))
	})
}

// The account_link_required answer tells the real owner of an address that
// someone registered without proving it to reset the password. That reset
// is the first proof of the inbox: whatever the squatter set up before it
// (an API key, a provider identity linked from their session, which would
// sign them in for good) must not survive it (finding 6).
func TestFinding6ResetThatFirstProvesTheInboxEndsTheSquattersAccess(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		b := setupService(t, d)
		squatter, tok := b.user(t) // registered, never verified
		p, err := b.svc.Authenticate(ctx, tok.AccessToken)
		require.NoError(t, err)
		key, err := b.svc.CreateAPIKey(authn.With(ctx, p), CreateAPIKeyParams{Name: "mine", Scopes: []string{authn.ScopeRead, authn.ScopeWrite}})
		require.NoError(t, err)
		require.NoError(t, b.svc.linkIdentity(ctx, squatter.ID, &externalIdentity{Provider: "github", Subject: "4242", Email: "squatter@example.net"}))

		// The owner of the inbox resets the password.
		require.NoError(t, b.svc.ForgotPassword(ctx, squatter.Email))
		_, reset := b.lastLink(t, squatter.Email)
		require.NoError(t, b.svc.ResetPassword(ctx, reset, "the owner's own password"))

		_, err = b.svc.Authenticate(ctx, key.Secret)
		require.True(t, apperr.Is(err, apperr.Unauthenticated), "the squatter's API key is revoked: %v", err)
		n, err := d.R.NewSelect().Model((*Identity)(nil)).Where("user_id = ?", squatter.ID).Count(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "the identity linked before the inbox was proven is gone")

		// Once the address is proven, a later reset leaves the owner's own
		// keys and identities alone.
		owner, err := b.svc.PasswordLogin(ctx, squatter.Email, "the owner's own password")
		require.NoError(t, err)
		op, err := b.svc.Authenticate(ctx, owner.AccessToken)
		require.NoError(t, err)
		ownKey, err := b.svc.CreateAPIKey(authn.With(ctx, op), CreateAPIKeyParams{Name: "owner's"})
		require.NoError(t, err)
		require.NoError(t, b.svc.linkIdentity(ctx, squatter.ID, &externalIdentity{Provider: "google", Subject: "owner-1", Email: squatter.Email}))
		b.clock.Advance(time.Second)
		require.NoError(t, b.svc.ForgotPassword(ctx, squatter.Email))
		_, again := b.lastLink(t, squatter.Email)
		require.NoError(t, b.svc.ResetPassword(ctx, again, "the owner's next password"))
		_, err = b.svc.Authenticate(ctx, ownKey.Secret)
		require.NoError(t, err, "a verified account's keys survive a reset")
		n, err = d.R.NewSelect().Model((*Identity)(nil)).Where("user_id = ?", squatter.ID).Count(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
	})
}
