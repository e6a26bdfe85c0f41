package auth

import (
	"context"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/audit"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
)

// ListUsersParams filters the admin user list.
type ListUsersParams struct {
	Email  string
	Before string
	Limit  int
}

// ListUsers pages through accounts, newest first (admins only).
func (s *Service) ListUsers(ctx context.Context, p ListUsersParams) ([]User, string, error) {
	if _, err := authn.RequireAdmin(ctx); err != nil {
		return nil, "", err
	}
	if p.Limit <= 0 || p.Limit > 200 {
		p.Limit = 50
	}
	list, err := s.store.listUsers(ctx, listUsersParams{Email: p.Email, Before: p.Before, Limit: p.Limit + 1})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(list) > p.Limit {
		list = list[:p.Limit]
		next = list[p.Limit-1].ID
	}
	return list, next, nil
}

// SetActive activates or deactivates an account (admins only). A deactivated
// user's sessions, access tokens and API keys stop working at once.
func (s *Service) SetActive(ctx context.Context, userID string, active bool) (*User, error) {
	pr, err := authn.RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if userID == pr.UserID && !active {
		return nil, apperr.New(apperr.Conflict, "you cannot deactivate your own account")
	}
	u, err := s.store.userByID(ctx, s.db.W, userID)
	if err != nil {
		return nil, err
	}
	if u.Active == active {
		return u, nil
	}
	u.Active, u.UpdatedAt = active, s.now().UTC()
	action := "user.activate"
	if !active {
		action = "user.deactivate"
	}
	err = s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := s.store.updateUser(ctx, tx, u, "active"); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: action, ActorID: pr.UserID, SubjectID: u.ID})
	})
	if err != nil {
		return nil, err
	}
	if !active {
		if err := s.revokeSessions(ctx, revokeSessionsParams{UserID: u.ID, Reason: "deactivated"}); err != nil {
			return nil, err
		}
		if err := s.revokeUser(ctx, u.ID); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// SetRole changes an account's role (admins only). The user's current
// access tokens stop working so the next refresh carries the new role.
func (s *Service) SetRole(ctx context.Context, userID, role string) (*User, error) {
	pr, err := authn.RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	if role != authn.RoleUser && role != authn.RoleAdmin {
		return nil, apperr.InvalidField("body.role", "must be user or admin")
	}
	if userID == pr.UserID {
		return nil, apperr.New(apperr.Conflict, "you cannot change your own role")
	}
	u, err := s.store.userByID(ctx, s.db.W, userID)
	if err != nil {
		return nil, err
	}
	if u.Role == role {
		return u, nil
	}
	old := u.Role
	u.Role, u.UpdatedAt = role, s.now().UTC()
	err = s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := s.store.updateUser(ctx, tx, u, "role"); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "user.role_change", ActorID: pr.UserID, SubjectID: u.ID, Details: map[string]any{"from": old, "to": role}})
	})
	if err != nil {
		return nil, err
	}
	return u, s.revokeUser(ctx, u.ID)
}

// AuditEvents pages through the audit log (admins only).
func (s *Service) AuditEvents(ctx context.Context, f audit.Filter) ([]audit.Event, string, error) {
	if _, err := authn.RequireAdmin(ctx); err != nil {
		return nil, "", err
	}
	return s.audit.List(ctx, f)
}
