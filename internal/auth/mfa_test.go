package auth

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/audit"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/reqmeta"
)

func (b *svcBundle) code(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, b.clock.Now(), totpOpts)
	require.NoError(t, err)
	return c
}

// challenge signs in with the password and returns the MFA challenge token.
func (b *svcBundle) challenge(t *testing.T, email string) string {
	t.Helper()
	_, err := b.svc.PasswordLogin(context.Background(), email, "correct horse battery")
	e, ok := apperr.As(err)
	require.True(t, ok, "got %v", err)
	require.Equal(t, apperr.Unauthenticated, e.Code)
	require.Equal(t, "mfa_required", e.Extensions["error"])
	return e.Extensions["mfa_token"].(string)
}

// withTOTP signs a new user in, enrols and confirms TOTP, and returns the
// user, a context acting as them, the secret and the recovery codes.
func (b *svcBundle) withTOTP(t *testing.T) (*User, context.Context, string, []string) {
	t.Helper()
	ctx := context.Background()
	u, tok := b.user(t)
	p, err := b.svc.Authenticate(ctx, tok.AccessToken)
	require.NoError(t, err)
	me := authn.With(ctx, p)
	enr, err := b.svc.EnrollTOTP(me)
	require.NoError(t, err)
	codes, err := b.svc.ConfirmTOTP(me, b.code(t, enr.Secret))
	require.NoError(t, err)
	return u, me, enr.Secret, codes
}

func TestTOTP(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		b := setupService(t, d)
		u, tok := b.user(t)
		p, err := b.svc.Authenticate(ctx, tok.AccessToken)
		require.NoError(t, err)
		me := authn.With(ctx, p)

		_, err = b.svc.ConfirmTOTP(me, "123456")
		require.True(t, apperr.Is(err, apperr.Conflict), "confirm before enrol: %v", err)
		enr, err := b.svc.EnrollTOTP(me)
		require.NoError(t, err)
		require.Contains(t, enr.OTPAuthURL, "otpauth://totp/Pulse:")
		_, err = b.svc.ConfirmTOTP(me, "000000")
		require.True(t, apperr.Is(err, apperr.Invalid))
		codes, err := b.svc.ConfirmTOTP(me, b.code(t, enr.Secret))
		require.NoError(t, err)
		require.Len(t, codes, 10)
		_, err = b.svc.EnrollTOTP(me)
		require.True(t, apperr.Is(err, apperr.Conflict), "already enabled")

		// Password alone no longer yields tokens.
		ch := b.challenge(t, u.Email)
		_, err = b.svc.VerifyMFA(ctx, ch, "999999")
		require.True(t, apperr.Is(err, apperr.Invalid))
		_, err = b.svc.VerifyMFA(ctx, "forged", b.code(t, enr.Secret))
		require.True(t, apperr.Is(err, apperr.Unauthenticated))

		// The code used to confirm cannot be replayed in the same step.
		_, err = b.svc.VerifyMFA(ctx, ch, b.code(t, enr.Secret))
		require.ErrorContains(t, err, "already used")
		b.clock.Advance(30 * time.Second)
		tok2, err := b.svc.VerifyMFA(ctx, ch, b.code(t, enr.Secret))
		require.NoError(t, err)
		p2, err := b.svc.Authenticate(ctx, tok2.AccessToken)
		require.NoError(t, err)
		require.Equal(t, "aal2", p2.AAL, "the token records the second factor")
		_, err = b.svc.VerifyMFA(ctx, ch, b.code(t, enr.Secret))
		require.True(t, apperr.Is(err, apperr.Unauthenticated), "a challenge works once")

		// A recovery code works once.
		ch = b.challenge(t, u.Email)
		_, err = b.svc.VerifyMFA(ctx, ch, codes[0])
		require.NoError(t, err)
		ch = b.challenge(t, u.Email)
		_, err = b.svc.VerifyMFA(ctx, ch, codes[0])
		require.True(t, apperr.Is(err, apperr.Invalid))
		_, err = b.svc.VerifyMFA(ctx, ch, "  "+codes[1][:5]+" "+codes[1][6:]+" ")
		require.NoError(t, err, "recovery codes are forgiving about spaces and dashes")

		// Challenges expire.
		ch = b.challenge(t, u.Email)
		b.clock.Advance(6 * time.Minute)
		_, err = b.svc.VerifyMFA(ctx, ch, b.code(t, enr.Secret))
		require.True(t, apperr.Is(err, apperr.Unauthenticated))

		// Disabling needs a valid code; then the password is enough again.
		me2 := authn.With(ctx, p2)
		require.True(t, apperr.Is(b.svc.DisableTOTP(me2, "000000"), apperr.Invalid))
		b.clock.Advance(30 * time.Second)
		require.NoError(t, b.svc.DisableTOTP(me2, b.code(t, enr.Secret)))
		_, err = b.svc.PasswordLogin(ctx, u.Email, "correct horse battery")
		require.NoError(t, err)
	})
}

func TestMFAGuessesAreLimited(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		b := setupService(t, d)
		u, _, secret, _ := b.withTOTP(t)
		b.clock.Advance(30 * time.Second)

		ch := b.challenge(t, u.Email)
		for range 5 {
			_, err := b.svc.VerifyMFA(ctx, ch, "000000")
			require.True(t, apperr.Is(err, apperr.Invalid))
		}
		_, err := b.svc.VerifyMFA(ctx, ch, b.code(t, secret))
		require.True(t, apperr.Is(err, apperr.RateLimited), "the sixth guess on a challenge is refused, even a right one: %v", err)
	})
}

// An attacker who knows the password mints a fresh challenge per login and
// spreads guesses over challenges and addresses. The account's own count of
// failures caps what they learn: 50 wrong codes over 10 challenges get five
// real checks, then a growing backoff refuses even the right code, and the
// owner is told by email.
func TestFinding8MFAGuessesAreCountedPerAccountAcrossChallenges(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		b := setupService(t, d)
		u, _, secret, _ := b.withTOTP(t)
		b.clock.Advance(30 * time.Second)
		mailsBefore := b.mailCount()

		results := map[apperr.Code]int{}
		for c := range 10 {
			from := reqmeta.With(ctx, reqmeta.Client{IP: fmt.Sprintf("198.51.100.%d", c+1)})
			ch := b.challenge(t, u.Email)
			for g := range 5 {
				_, err := b.svc.VerifyMFA(from, ch, fmt.Sprintf("%06d", c*5+g))
				results[apperr.CodeOf(err)]++
			}
		}
		require.Equal(t, map[apperr.Code]int{apperr.Invalid: 5, apperr.RateLimited: 45}, results)
		events, _, err := b.audit.List(ctx, audit.Filter{Action: "auth.mfa_verify", SubjectID: u.ID})
		require.NoError(t, err)
		require.Len(t, events, 5, "only five guesses were checked at all")

		// The right code is refused while backed off.
		ch := b.challenge(t, u.Email)
		_, err = b.svc.VerifyMFA(ctx, ch, b.code(t, secret))
		e, ok := apperr.As(err)
		require.True(t, ok && e.Code == apperr.RateLimited, "got %v", err)
		require.NotNil(t, e.Retry)
		require.LessOrEqual(t, e.Retry.After, 30*time.Second)

		// The owner heard about it, once.
		require.Equal(t, mailsBefore+1, b.mailCount())
		b.mail.mu.Lock()
		last := b.mail.got[len(b.mail.got)-1]
		b.mail.mu.Unlock()
		require.Equal(t, u.Email, last.To)
		require.Contains(t, last.Text, "second factor")

		// The backoff grows: after the first pause one guess is checked,
		// then the pause is twice as long.
		b.clock.Advance(31 * time.Second)
		_, err = b.svc.VerifyMFA(ctx, ch, "000000")
		require.True(t, apperr.Is(err, apperr.Invalid), "checked after the pause: %v", err)
		b.clock.Advance(31 * time.Second)
		_, err = b.svc.VerifyMFA(ctx, ch, b.code(t, secret))
		require.True(t, apperr.Is(err, apperr.RateLimited), "still backed off (60 s now): %v", err)
		b.clock.Advance(30 * time.Second)
		_, err = b.svc.VerifyMFA(ctx, ch, b.code(t, secret))
		require.NoError(t, err, "the owner gets in once the pause is over")

		// Success forgets the streak: five fresh guesses are checked again.
		ch = b.challenge(t, u.Email)
		for range 5 {
			_, err := b.svc.VerifyMFA(ctx, ch, "000000")
			require.True(t, apperr.Is(err, apperr.Invalid), "got %v", err)
		}
	})
}
