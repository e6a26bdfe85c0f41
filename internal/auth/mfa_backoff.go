package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/mail"
)

// Second-factor guesses are counted per account, in the database, whatever
// challenge, address or process they come through: an attacker who has the
// password can mint a challenge per login, so per-challenge and per-address
// limits alone bound nothing.
const (
	mfaFreeFailures  = 5                // guesses checked before the backoff starts
	mfaBackoffBase   = 30 * time.Second // the first pause; each failure doubles it
	mfaBackoffMax    = time.Hour
	mfaFailureMemory = 24 * time.Hour // a quiet day forgets a streak
	mfaNotifyEvery   = 25             // after the first notice, one per this many failures
)

// mfaFailures is an account's current streak of failed second factors.
type mfaFailures struct {
	bun.BaseModel `bun:"table:auth_mfa_failures"`

	UserID        string     `bun:"user_id,pk"`
	Failures      int        `bun:"failures,notnull"`
	LastFailureAt *time.Time `bun:"last_failure_at"`
	LockedUntil   *time.Time `bun:"locked_until"`
}

// mfaBackoff is the pause after the nth failure in a row.
func mfaBackoff(n int) time.Duration {
	if n < mfaFreeFailures {
		return 0
	}
	shift := n - mfaFreeFailures
	if shift > 10 {
		return mfaBackoffMax
	}
	return min(mfaBackoffBase<<shift, mfaBackoffMax)
}

// reserveMFAGuess counts a guess against the account before it is checked,
// and returns its number in the streak. It refuses while the account is
// backed off. Counting first, with a compare-and-set on the count, means
// concurrent guesses cannot slip past the limit between a check and its
// bookkeeping; a right guess then clears the streak (clearMFAFailures).
func (s *Service) reserveMFAGuess(ctx context.Context, userID string) (int, error) {
	for range 5 {
		now := s.now().UTC()
		row, err := s.store.mfaFailuresOf(ctx, s.db.W, userID)
		if apperr.Is(err, apperr.NotFound) {
			if err := s.store.createMFAFailures(ctx, userID); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, err
		}
		streak := row.Failures
		if row.LastFailureAt != nil && now.Sub(*row.LastFailureAt) > mfaFailureMemory {
			streak = 0
		} else if row.LockedUntil != nil && now.Before(*row.LockedUntil) {
			e := apperr.New(apperr.RateLimited, "too many wrong codes for this account; wait before trying again")
			e.Retry = &apperr.Retry{After: max(row.LockedUntil.Sub(now), time.Second), Limit: mfaFreeFailures, Reset: row.LockedUntil.Sub(now)}
			return 0, e
		}
		next := mfaFailures{UserID: userID, Failures: streak + 1, LastFailureAt: &now}
		if d := mfaBackoff(next.Failures); d > 0 {
			until := now.Add(d)
			next.LockedUntil = &until
		}
		ok, err := s.store.claimMFAGuess(ctx, row.Failures, &next)
		if err != nil {
			return 0, err
		}
		if ok {
			return next.Failures, nil
		}
		// Another guess counted first: look again.
	}
	return 0, apperr.New(apperr.RateLimited, "too many concurrent attempts; retry")
}

// mfaGuessFailed tells the owner, once a streak shows someone has the
// password and is guessing the second factor.
func (s *Service) mfaGuessFailed(ctx context.Context, u *User, n int) {
	if s.mailer == nil || (n != mfaFreeFailures && n%mfaNotifyEvery != 0) {
		return
	}
	err := s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		return s.mailer.SendTx(ctx, tx, mail.Message{To: u.Email, Subject: "Failed sign-in attempts on your Pulse account",
			Text: fmt.Sprintf("Someone entered your Pulse password correctly and then failed the second factor %d times in a row.\n\n", n) +
				"If this was not you, your password is known to someone else: change it now (or reset it from the sign-in page), " +
				"and review your active sessions in your settings.\n\nFurther attempts are slowed down until the right code is entered."})
	})
	if err != nil {
		s.log.ErrorContext(ctx, "mfa failure notice", "err", err)
	}
}
