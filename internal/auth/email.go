package auth

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/audit"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/kv"
	"github.com/pulse-run/pulse/internal/platform/mail"
)

// Mailer queues email in a transaction (internal/platform/mail.Outbox).
type Mailer interface {
	SendTx(ctx context.Context, tx *db.Tx, m mail.Message) error
}

const (
	verifyNamespace = "auth.verify"
	resetNamespace  = "auth.reset"
	verifyTTL       = 24 * time.Hour
	resetTTL        = time.Hour
)

var errBadEmailToken = apperr.InvalidField("body.token", "is invalid, expired or already used")

func (s *Service) link(path, token string) string {
	return s.cfg.AppURL + path + "?token=" + url.QueryEscape(token)
}

// sendVerificationTx creates a verification token for u's current email and
// queues the message in tx. The token names the email it verifies, so it
// means nothing once the email changes.
func (s *Service) sendVerificationTx(ctx context.Context, tx *db.Tx, u *User) error {
	token := newSecret()
	if err := s.kv.With(tx).Put(ctx, kv.PutParams{Namespace: verifyNamespace, Key: hashSecret(token), Value: []byte(u.ID + " " + u.Email), TTL: verifyTTL}); err != nil {
		return err
	}
	return s.mailer.SendTx(ctx, tx, mail.Message{To: u.Email, Subject: "Confirm your email address",
		Text: "Confirm your email address for Pulse by opening this link within 24 hours:\n\n" + s.link("/verify-email", token) +
			"\n\nIf you did not create an account, ignore this message."})
}

// SendVerification emails the caller a new verification link.
func (s *Service) SendVerification(ctx context.Context) error {
	p, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return err
	}
	if err := s.limit(ctx, "verify-send:user:"+p.UserID, s.cfg.Limits.EmailPerAccount, 1); err != nil {
		return err
	}
	u, err := s.store.userByID(ctx, s.db.W, p.UserID)
	if err != nil {
		return err
	}
	if u.EmailVerifiedAt != nil {
		return apperr.New(apperr.Conflict, "the email address is already verified")
	}
	return s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error { return s.sendVerificationTx(ctx, tx, u) })
}

// VerifyEmail consumes a verification token.
func (s *Service) VerifyEmail(ctx context.Context, token string) error {
	if err := s.limit(ctx, "verify:ip:"+clientBucket(ctx), s.cfg.Limits.TokenPerIP, 1); err != nil {
		return err
	}
	if token == "" || len(token) > 200 {
		return errBadEmailToken
	}
	return s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		v, err := s.kv.With(tx).Take(ctx, verifyNamespace, hashSecret(token))
		if apperr.Is(err, apperr.NotFound) {
			return errBadEmailToken
		}
		if err != nil {
			return err
		}
		userID, email, _ := strings.Cut(string(v), " ")
		u, err := s.store.userByID(ctx, tx, userID)
		if err != nil || u.Email != email {
			return errBadEmailToken
		}
		now := s.now().UTC()
		u.EmailVerifiedAt, u.UpdatedAt = &now, now
		if err := s.store.updateUser(ctx, tx, u, "email_verified_at"); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "user.email_verify", ActorID: u.ID, SubjectID: u.ID})
	})
}

// ForgotPassword emails a reset link if the account exists. It answers the
// same either way, so it cannot be used to learn who has an account.
func (s *Service) ForgotPassword(ctx context.Context, email string) error {
	if err := s.limit(ctx, "forgot:ip:"+clientBucket(ctx), s.cfg.Limits.TokenPerIP, 1); err != nil {
		return err
	}
	email, err := normalizeEmail(email)
	if err != nil {
		return err
	}
	// Per account, but silently: a 429 here would say the account exists.
	if s.limit(ctx, "forgot:email:"+email, s.cfg.Limits.EmailPerAccount, 1) != nil {
		return nil
	}
	u, err := s.store.userByEmail(ctx, email)
	if apperr.Is(err, apperr.NotFound) || (err == nil && !u.Active) {
		return nil
	}
	if err != nil {
		return err
	}
	token := newSecret()
	value := resetToken{UserID: u.ID, IssuedAt: s.now()}.encode()
	return s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := s.kv.With(tx).Put(ctx, kv.PutParams{Namespace: resetNamespace, Key: hashSecret(token), Value: value, TTL: resetTTL}); err != nil {
			return err
		}
		if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: "user.password_reset_request", SubjectID: u.ID}); err != nil {
			return err
		}
		return s.mailer.SendTx(ctx, tx, mail.Message{To: u.Email, Subject: "Reset your password",
			Text: "Someone asked to reset the password of your Pulse account. Open this link within an hour to choose a new one:\n\n" +
				s.link("/reset-password", token) + "\n\nIf it was not you, ignore this message: your password is unchanged."})
	})
}

// ResetPassword sets a new password with a reset token and signs out every
// session. It also proves the user reads that inbox, so the email counts
// as verified.
func (s *Service) ResetPassword(ctx context.Context, token, password string) error {
	if err := s.limit(ctx, "reset:ip:"+clientBucket(ctx), s.cfg.Limits.TokenPerIP, 1); err != nil {
		return err
	}
	if err := checkPassword("body.new_password", password); err != nil {
		return err // checked first so a typo does not burn the token
	}
	if token == "" || len(token) > 200 {
		return errBadEmailToken
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	var userID string
	err = s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		v, err := s.kv.With(tx).Take(ctx, resetNamespace, hashSecret(token))
		if apperr.Is(err, apperr.NotFound) {
			return errBadEmailToken
		}
		if err != nil {
			return err
		}
		rt, ok := decodeResetToken(v)
		if !ok {
			return errBadEmailToken
		}
		u, err := s.store.userByID(ctx, tx, rt.UserID)
		if err != nil || !u.Active || rt.predates(u.PasswordChangedAt) {
			return errBadEmailToken
		}
		now := s.now().UTC()
		u.PasswordHash, u.PasswordChangedAt, u.UpdatedAt = &hash, &now, now
		if u.EmailVerifiedAt == nil {
			u.EmailVerifiedAt = &now
			// This reset is the first proof of the inbox. Until now the
			// account was whoever registered the address, perhaps a
			// squatter (finding 6): what could let them back in goes with
			// the sessions.
			if err := s.dropUnprovenAccess(ctx, tx, u.ID, now); err != nil {
				return err
			}
		}
		if err := s.store.updateUser(ctx, tx, u, "password_hash", "password_changed_at", "email_verified_at"); err != nil {
			return err
		}
		userID = u.ID
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "user.password_reset", ActorID: u.ID, SubjectID: u.ID})
	})
	if err != nil {
		return err
	}
	return s.revokeSessions(ctx, revokeSessionsParams{UserID: userID, Reason: "password_reset"})
}

// dropUnprovenAccess revokes the API keys and unlinks the provider
// identities an account gathered before its email was proven. Its owner,
// who has just proven it, links again from the settings.
func (s *Service) dropUnprovenAccess(ctx context.Context, tx *db.Tx, userID string, now time.Time) error {
	keys, err := s.store.revokeAllAPIKeys(ctx, tx, userID, now)
	if err != nil {
		return err
	}
	idents, err := s.store.deleteIdentities(ctx, tx, userID)
	if err != nil {
		return err
	}
	if keys == 0 && idents == 0 {
		return nil
	}
	return s.audit.RecordTx(ctx, tx, audit.Event{Action: "user.unproven_access_dropped", ActorID: userID, SubjectID: userID,
		Details: map[string]any{"api_keys_revoked": keys, "identities_unlinked": idents}})
}

// resetToken is what a reset link stands for: whose password, asked for
// when. A link asked for before the password last changed (by a reset or
// from the settings) is dead, so one reset retires every other link still
// sitting in an inbox.
type resetToken struct {
	UserID   string
	IssuedAt time.Time
}

func (r resetToken) encode() []byte {
	return []byte(r.UserID + " " + strconv.FormatInt(r.IssuedAt.UnixMicro(), 10))
}

// decodeResetToken refuses the older form (the user id alone): such links
// predate this rule, and they expire within the hour anyway.
func decodeResetToken(v []byte) (resetToken, bool) {
	id, at, ok := strings.Cut(string(v), " ")
	micros, err := strconv.ParseInt(at, 10, 64)
	if !ok || id == "" || err != nil {
		return resetToken{}, false
	}
	return resetToken{UserID: id, IssuedAt: time.UnixMicro(micros)}, true
}

// predates reports whether the link was asked for before the password last
// changed. Both sides are compared to the microsecond, what the databases
// keep.
func (r resetToken) predates(changedAt *time.Time) bool {
	return changedAt != nil && changedAt.Truncate(time.Microsecond).After(r.IssuedAt.Truncate(time.Microsecond))
}
