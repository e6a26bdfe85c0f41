package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/db"
)

// store is auth's SQL. It holds no rules: the service decides.
type store struct{ db *db.DB }

func notFoundOr(err error, what string) error {
	if db.IsNoRows(err) {
		return apperr.Errorf(apperr.NotFound, "%s not found", what)
	}
	return err
}

func (s *store) createUser(ctx context.Context, idb bun.IDB, u *User) error {
	if _, err := idb.NewInsert().Model(u).Exec(ctx); err != nil {
		if db.IsUniqueViolation(err) {
			return apperr.New(apperr.Conflict, "an account with this email already exists")
		}
		return fmt.Errorf("auth: create user: %w", err)
	}
	return nil
}

func (s *store) userByID(ctx context.Context, idb bun.IDB, id string) (*User, error) {
	u := &User{}
	err := idb.NewSelect().Model(u).Where("id = ?", id).Scan(ctx)
	return u, notFoundOr(err, "user")
}

func (s *store) userByEmail(ctx context.Context, email string) (*User, error) {
	u := &User{}
	err := s.db.W.NewSelect().Model(u).Where("email = ?", email).Scan(ctx)
	return u, notFoundOr(err, "user")
}

func (s *store) updateUser(ctx context.Context, idb bun.IDB, u *User, columns ...string) error {
	_, err := idb.NewUpdate().Model(u).Column(append(columns, "updated_at")...).WherePK().Exec(ctx)
	return err
}

func (s *store) deleteUser(ctx context.Context, idb bun.IDB, id string) error {
	_, err := idb.NewDelete().Model((*User)(nil)).Where("id = ?", id).Exec(ctx)
	return err
}

type listUsersParams struct {
	Email  string // substring
	Before string // cursor: id of the last user of the previous page
	Limit  int
}

func (s *store) listUsers(ctx context.Context, p listUsersParams) ([]User, error) {
	var out []User
	q := s.db.R.NewSelect().Model(&out).Order("id DESC").Limit(int64(p.Limit))
	if p.Email != "" {
		q = q.Where("email LIKE ?", "%"+p.Email+"%")
	}
	if p.Before != "" {
		q = q.Where("id < ?", p.Before)
	}
	return out, q.Scan(ctx)
}

func (s *store) createSession(ctx context.Context, idb bun.IDB, ses *Session) error {
	_, err := idb.NewInsert().Model(ses).Exec(ctx)
	return err
}

func (s *store) sessionByID(ctx context.Context, idb bun.IDB, id string) (*Session, error) {
	ses := &Session{}
	err := idb.NewSelect().Model(ses).Where("id = ?", id).Scan(ctx)
	return ses, notFoundOr(err, "session")
}

func (s *store) activeSessions(ctx context.Context, userID string, now time.Time) ([]Session, error) {
	var out []Session
	err := s.db.R.NewSelect().Model(&out).
		Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", userID, now).
		Order("created_at DESC").Scan(ctx)
	return out, err
}

type revokeSessionsParams struct {
	UserID    string
	SessionID string // only this one; empty for all of the user's
	ExceptID  string // keep this one
	Reason    string
	At        time.Time
}

// revokeSessions marks sessions revoked and returns the ids it revoked.
func (s *store) revokeSessions(ctx context.Context, idb bun.IDB, p revokeSessionsParams) ([]string, error) {
	q := idb.NewSelect().Model((*Session)(nil)).Column("id").Where("user_id = ? AND revoked_at IS NULL", p.UserID)
	if p.SessionID != "" {
		q = q.Where("id = ?", p.SessionID)
	}
	if p.ExceptID != "" {
		q = q.Where("id <> ?", p.ExceptID)
	}
	var idsOut []string
	if err := q.Scan(ctx, &idsOut); err != nil {
		return nil, err
	}
	if len(idsOut) == 0 {
		return nil, nil
	}
	_, err := idb.NewUpdate().Model((*Session)(nil)).
		Set("revoked_at = ?", p.At).Set("revoke_reason = ?", p.Reason).
		Where("id IN (?)", bun.In(idsOut)).Exec(ctx)
	return idsOut, err
}

func (s *store) touchSession(ctx context.Context, idb bun.IDB, id string, at time.Time) error {
	_, err := idb.NewUpdate().Model((*Session)(nil)).Set("refreshed_at = ?", at).Where("id = ?", id).Exec(ctx)
	return err
}

func (s *store) insertRefresh(ctx context.Context, idb bun.IDB, rt *refreshToken) error {
	_, err := idb.NewInsert().Model(rt).Exec(ctx)
	return err
}

func (s *store) refreshByHash(ctx context.Context, idb bun.IDB, hash string) (*refreshToken, error) {
	rt := &refreshToken{}
	err := idb.NewSelect().Model(rt).Where("token_hash = ?", hash).Scan(ctx)
	return rt, notFoundOr(err, "refresh token")
}

// claimRefresh marks a refresh token used, only if nobody else has: the
// conditional update is what makes a refresh token single-use under
// concurrency.
func (s *store) claimRefresh(ctx context.Context, idb bun.IDB, rt *refreshToken) (bool, error) {
	res, err := idb.NewUpdate().Model((*refreshToken)(nil)).
		Set("used_at = ?", rt.UsedAt).Set("successor_id = ?", rt.SuccessorID).Set("successor_enc = ?", rt.SuccessorEnc).
		Where("id = ? AND used_at IS NULL", rt.ID).Exec(ctx)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// forgetSuccessors drops the encrypted successor secrets once no duplicate
// refresh can use them.
func (s *store) forgetSuccessors(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.W.NewUpdate().Model((*refreshToken)(nil)).Set("successor_enc = NULL").
		Where("successor_enc IS NOT NULL AND used_at < ?", before).Exec(ctx)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (s *store) createAPIKey(ctx context.Context, idb bun.IDB, k *APIKey) error {
	_, err := idb.NewInsert().Model(k).Exec(ctx)
	return err
}

func (s *store) apiKeys(ctx context.Context, userID string) ([]APIKey, error) {
	var out []APIKey
	err := s.db.R.NewSelect().Model(&out).Where("user_id = ? AND revoked_at IS NULL", userID).Order("created_at DESC").Scan(ctx)
	return out, err
}

func (s *store) revokeAPIKey(ctx context.Context, idb bun.IDB, userID, id string, at time.Time) error {
	res, err := idb.NewUpdate().Model((*APIKey)(nil)).Set("revoked_at = ?", at).
		Where("id = ? AND user_id = ? AND revoked_at IS NULL", id, userID).Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.New(apperr.NotFound, "API key not found")
	}
	return nil
}

// revokeAllAPIKeys revokes every live key of a user and says how many.
func (s *store) revokeAllAPIKeys(ctx context.Context, idb bun.IDB, userID string, at time.Time) (int64, error) {
	res, err := idb.NewUpdate().Model((*APIKey)(nil)).Set("revoked_at = ?", at).
		Where("user_id = ? AND revoked_at IS NULL", userID).Exec(ctx)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// deleteIdentities unlinks every provider identity of a user and says how
// many.
func (s *store) deleteIdentities(ctx context.Context, idb bun.IDB, userID string) (int64, error) {
	res, err := idb.NewDelete().Model((*Identity)(nil)).Where("user_id = ?", userID).Exec(ctx)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// apiKeyByHash finds a usable key with its owner.
func (s *store) apiKeyByHash(ctx context.Context, hash string) (*APIKey, *User, error) {
	k := &APIKey{}
	if err := s.db.R.NewSelect().Model(k).Where("key_hash = ? AND revoked_at IS NULL", hash).Scan(ctx); err != nil {
		return nil, nil, notFoundOr(err, "API key")
	}
	u, err := s.userByID(ctx, s.db.R, k.UserID)
	return k, u, err
}

func (s *store) touchAPIKey(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.W.NewUpdate().Model((*APIKey)(nil)).Set("last_used_at = ?", at).Where("id = ?", id).Exec(ctx)
	return err
}

func (s *store) mfaFailuresOf(ctx context.Context, idb bun.IDB, userID string) (*mfaFailures, error) {
	row := &mfaFailures{}
	err := idb.NewSelect().Model(row).Where("user_id = ?", userID).Scan(ctx)
	return row, notFoundOr(err, "MFA failures")
}

func (s *store) createMFAFailures(ctx context.Context, userID string) error {
	_, err := s.db.W.NewInsert().Model(&mfaFailures{UserID: userID}).On("CONFLICT (user_id) DO NOTHING").Exec(ctx)
	return err
}

// claimMFAGuess stores next if the count is still prev.
func (s *store) claimMFAGuess(ctx context.Context, prev int, next *mfaFailures) (bool, error) {
	res, err := s.db.W.NewUpdate().Model(next).Column("failures", "last_failure_at", "locked_until").
		Where("user_id = ? AND failures = ?", next.UserID, prev).Exec(ctx)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *store) clearMFAFailures(ctx context.Context, idb bun.IDB, userID string) error {
	_, err := idb.NewDelete().Model((*mfaFailures)(nil)).Where("user_id = ?", userID).Exec(ctx)
	return err
}
