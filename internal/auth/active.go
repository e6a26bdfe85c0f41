package auth

import "context"

// Active reports whether a user's account is active: a deactivated
// user's automations (workflow triggers) must not act for them. It is an
// internal check, for other features, with no caller to authorize.
func (s *Service) Active(ctx context.Context, userID string) (bool, error) {
	u, err := s.store.userByID(ctx, s.db.R, userID)
	if err != nil {
		return false, err
	}
	return u.Active, nil
}
