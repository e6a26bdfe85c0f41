package auth

import (
	"context"
	"net/url"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/audit"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
)

// Me returns the caller's account.
func (s *Service) Me(ctx context.Context) (*User, error) {
	p, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, err
	}
	return s.store.userByID(ctx, s.db.R, p.UserID)
}

// UpdateMeParams are profile changes; nil fields stay as they are.
type UpdateMeParams struct {
	Name      *string
	AvatarURL *string
	Timezone  *string
	Locale    *string
}

// UpdateMe changes the caller's profile.
func (s *Service) UpdateMe(ctx context.Context, p UpdateMeParams) (*User, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return nil, err
	}
	u, err := s.store.userByID(ctx, s.db.W, pr.UserID)
	if err != nil {
		return nil, err
	}
	var cols []string
	if p.Name != nil {
		n := strings.TrimSpace(*p.Name)
		if len(n) > 200 {
			return nil, apperr.InvalidField("body.name", "must be at most 200 characters")
		}
		u.Name, cols = n, append(cols, "name")
	}
	if p.AvatarURL != nil {
		a := strings.TrimSpace(*p.AvatarURL)
		if a != "" {
			pu, err := url.Parse(a)
			if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" || len(a) > 2048 {
				return nil, apperr.InvalidField("body.avatar_url", "must be an http(s) URL of at most 2,048 characters")
			}
		}
		u.AvatarURL, cols = a, append(cols, "avatar_url")
	}
	if p.Timezone != nil {
		if _, err := time.LoadLocation(*p.Timezone); err != nil || *p.Timezone == "" || *p.Timezone == "Local" {
			return nil, apperr.InvalidField("body.timezone", "must be an IANA time zone such as Europe/Paris")
		}
		u.Timezone, cols = *p.Timezone, append(cols, "timezone")
	}
	if p.Locale != nil {
		tag, err := language.Parse(*p.Locale)
		if err != nil {
			return nil, apperr.InvalidField("body.locale", "must be a BCP 47 language tag such as en or pt-BR")
		}
		u.Locale, cols = tag.String(), append(cols, "locale")
	}
	if len(cols) == 0 {
		return u, nil
	}
	u.UpdatedAt = s.now().UTC()
	if err := s.store.updateUser(ctx, s.db.W, u, cols...); err != nil {
		return nil, err
	}
	return u, nil
}

// ChangePassword replaces the caller's password after checking the current
// one, and signs out every other session.
func (s *Service) ChangePassword(ctx context.Context, current, next string) error {
	pr, err := authn.Require(ctx)
	if err != nil {
		return err
	}
	if !pr.IsSession() {
		return apperr.New(apperr.PermissionDenied, "changing the password needs a signed-in session")
	}
	if err := checkPassword("body.new_password", next); err != nil {
		return err
	}
	u, err := s.store.userByID(ctx, s.db.W, pr.UserID)
	if err != nil {
		return err
	}
	// An account made through a provider has no password yet: it may set
	// one from a signed-in session.
	if u.PasswordHash == nil {
		current = ""
	} else if err := s.passwordFailuresAllowed(ctx, u.Email); err != nil {
		return err // a stolen session guesses no faster than a sign-in
	} else if ok, _, err := s.hasher.Verify(ctx, current, *u.PasswordHash); err != nil {
		return err
	} else if !ok {
		s.passwordFailed(ctx, u.Email)
		_ = s.audit.Record(ctx, audit.Event{Action: "user.password_change", Outcome: audit.Failure, ActorID: u.ID, SubjectID: u.ID})
		return apperr.InvalidField("body.current_password", "is not your current password")
	}
	h, err := s.hasher.Hash(ctx, next)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	u.PasswordHash, u.PasswordChangedAt, u.UpdatedAt = &h, &now, now
	err = s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := s.store.updateUser(ctx, tx, u, "password_hash", "password_changed_at"); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "user.password_change", ActorID: u.ID, SubjectID: u.ID})
	})
	if err != nil {
		return err
	}
	return s.revokeSessions(ctx, revokeSessionsParams{UserID: u.ID, ExceptID: pr.SessionID, Reason: "password_changed"})
}

// DeleteMe deletes the caller's account and everything that belongs to it.
func (s *Service) DeleteMe(ctx context.Context) error {
	pr, err := authn.Require(ctx)
	if err != nil {
		return err
	}
	if !pr.IsSession() {
		return apperr.New(apperr.PermissionDenied, "deleting the account needs a signed-in session")
	}
	if err := s.revokeSessions(ctx, revokeSessionsParams{UserID: pr.UserID, Reason: "account_deleted"}); err != nil {
		return err
	}
	if err := s.revokeUser(ctx, pr.UserID); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := s.store.deleteUser(ctx, tx, pr.UserID); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "user.delete", ActorID: pr.UserID, SubjectID: pr.UserID})
	})
}

// SessionInfo is a session as its owner sees it.
type SessionInfo struct {
	Session
	Current bool
}

// Sessions lists the caller's live sessions.
func (s *Service) Sessions(ctx context.Context) ([]SessionInfo, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, err
	}
	list, err := s.store.activeSessions(ctx, pr.UserID, s.now().UTC())
	if err != nil {
		return nil, err
	}
	out := make([]SessionInfo, len(list))
	for i, ses := range list {
		out[i] = SessionInfo{Session: ses, Current: ses.ID == pr.SessionID}
	}
	return out, nil
}

// RevokeSession signs out one of the caller's sessions.
func (s *Service) RevokeSession(ctx context.Context, id string) error {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return err
	}
	ses, err := s.store.sessionByID(ctx, s.db.W, id)
	if err != nil || ses.UserID != pr.UserID || ses.RevokedAt != nil {
		return apperr.New(apperr.NotFound, "session not found")
	}
	if err := s.revokeSessions(ctx, revokeSessionsParams{UserID: pr.UserID, SessionID: id, Reason: "revoked_by_user"}); err != nil {
		return err
	}
	return s.audit.Record(ctx, audit.Event{Action: "auth.session_revoke", ActorID: pr.UserID, SubjectID: pr.UserID, Details: map[string]any{"session_id": id}})
}

// RevokeAllSessions signs the caller out everywhere, this session included.
func (s *Service) RevokeAllSessions(ctx context.Context) error {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return err
	}
	if err := s.revokeSessions(ctx, revokeSessionsParams{UserID: pr.UserID, Reason: "revoked_all_by_user"}); err != nil {
		return err
	}
	return s.audit.Record(ctx, audit.Event{Action: "auth.session_revoke_all", ActorID: pr.UserID, SubjectID: pr.UserID})
}
