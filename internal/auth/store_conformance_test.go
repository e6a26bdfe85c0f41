package auth

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/ids"
)

type storeBundle struct {
	ctx context.Context
	s   *store
	d   *db.DB
	now time.Time
}

func setupStore(d *db.DB) *storeBundle {
	return &storeBundle{ctx: context.Background(), s: &store{db: d}, d: d, now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
}

// user creates a user whose email is unique to this test (the subtests
// share one database).
func (b *storeBundle) user(t *testing.T, name string) *User {
	t.Helper()
	id := ids.New()
	u := &User{ID: id, Email: name + "-" + id + "@example.com", Name: name, Timezone: "UTC", Locale: "en", Role: "user", Active: true,
		CreatedAt: b.now, UpdatedAt: b.now}
	require.NoError(t, b.s.createUser(b.ctx, b.d.W, u))
	return u
}

func (b *storeBundle) session(t *testing.T, userID string, expires time.Time) *Session {
	t.Helper()
	ses := &Session{ID: ids.New(), UserID: userID, AAL: "aal1", IP: "127.0.0.1", UserAgent: "test", CreatedAt: b.now, RefreshedAt: b.now, ExpiresAt: expires}
	require.NoError(t, b.s.createSession(b.ctx, b.d.W, ses))
	return ses
}

func sessionIDs(ss []Session) []string {
	out := []string{}
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

// The auth store's contract, the same on every engine: unique emails,
// NotFound for missing rows, sessions and API keys that stay revoked, and
// refresh tokens that can be claimed once.
func TestStoreConformance(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Run("users", func(t *testing.T) {
			b := setupStore(d)
			u := b.user(t, "ada")
			dup := *u
			dup.ID = ids.New()
			require.True(t, apperr.Is(b.s.createUser(b.ctx, b.d.W, &dup), apperr.Conflict), "one account per email")
			got, err := b.s.userByEmail(b.ctx, u.Email)
			require.NoError(t, err)
			require.Equal(t, u.ID, got.ID)
			_, err = b.s.userByEmail(b.ctx, "nobody-"+ids.New()+"@example.com")
			require.True(t, apperr.Is(err, apperr.NotFound), "%v", err)
			_, err = b.s.userByID(b.ctx, b.d.R, ids.New())
			require.True(t, apperr.Is(err, apperr.NotFound), "%v", err)

			got.Name, got.Locale, got.UpdatedAt = "Ada L.", "fr", b.now.Add(time.Minute)
			require.NoError(t, b.s.updateUser(b.ctx, b.d.W, got, "name"))
			again, err := b.s.userByID(b.ctx, b.d.R, u.ID)
			require.NoError(t, err)
			require.Equal(t, "Ada L.", again.Name)
			require.Equal(t, "en", again.Locale, "only the named columns change")
			require.True(t, b.now.Add(time.Minute).Equal(again.UpdatedAt), "and updated_at")

			tag := ids.New()[24:]
			var made []string
			for _, n := range []string{"x", "y", "z"} {
				made = append(made, b.user(t, n+tag).ID)
			}
			list, err := b.s.listUsers(b.ctx, listUsersParams{Email: tag, Limit: 2})
			require.NoError(t, err)
			require.Len(t, list, 2)
			require.Equal(t, []string{made[2], made[1]}, []string{list[0].ID, list[1].ID}, "newest first")
			list, err = b.s.listUsers(b.ctx, listUsersParams{Email: tag, Before: made[1], Limit: 10})
			require.NoError(t, err)
			require.Len(t, list, 1)
			require.Equal(t, made[0], list[0].ID)

			require.NoError(t, b.s.deleteUser(b.ctx, b.d.W, u.ID))
			_, err = b.s.userByID(b.ctx, b.d.R, u.ID)
			require.True(t, apperr.Is(err, apperr.NotFound))
		})
		t.Run("sessions", func(t *testing.T) {
			b := setupStore(d)
			u := b.user(t, "grace")
			one := b.session(t, u.ID, b.now.Add(time.Hour))
			two := b.session(t, u.ID, b.now.Add(time.Hour))
			b.session(t, u.ID, b.now.Add(-time.Minute)) // expired
			other := b.session(t, b.user(t, "other").ID, b.now.Add(time.Hour))
			active, err := b.s.activeSessions(b.ctx, u.ID, b.now)
			require.NoError(t, err)
			require.ElementsMatch(t, []string{one.ID, two.ID}, sessionIDs(active), "live, unexpired, the user's own")

			revoked, err := b.s.revokeSessions(b.ctx, b.d.W, revokeSessionsParams{UserID: u.ID, SessionID: one.ID, Reason: "logout", At: b.now})
			require.NoError(t, err)
			require.Equal(t, []string{one.ID}, revoked)
			again, err := b.s.revokeSessions(b.ctx, b.d.W, revokeSessionsParams{UserID: u.ID, SessionID: one.ID, Reason: "logout", At: b.now})
			require.NoError(t, err)
			require.Empty(t, again, "a revoked session is not revoked twice")
			got, err := b.s.sessionByID(b.ctx, b.d.R, one.ID)
			require.NoError(t, err)
			require.Equal(t, "logout", got.RevokeReason)
			require.NotNil(t, got.RevokedAt)

			keep := b.session(t, u.ID, b.now.Add(time.Hour))
			revoked, err = b.s.revokeSessions(b.ctx, b.d.W, revokeSessionsParams{UserID: u.ID, ExceptID: keep.ID, Reason: "password", At: b.now})
			require.NoError(t, err)
			require.Contains(t, revoked, two.ID)
			require.NotContains(t, revoked, keep.ID)
			active, err = b.s.activeSessions(b.ctx, u.ID, b.now)
			require.NoError(t, err)
			require.Equal(t, []string{keep.ID}, sessionIDs(active))
			theirs, err := b.s.activeSessions(b.ctx, other.UserID, b.now)
			require.NoError(t, err)
			require.Len(t, theirs, 1, "another user's sessions are untouched")

			require.NoError(t, b.s.touchSession(b.ctx, b.d.W, keep.ID, b.now.Add(time.Minute)))
			got, err = b.s.sessionByID(b.ctx, b.d.R, keep.ID)
			require.NoError(t, err)
			require.True(t, b.now.Add(time.Minute).Equal(got.RefreshedAt))
			_, err = b.s.sessionByID(b.ctx, b.d.R, ids.New())
			require.True(t, apperr.Is(err, apperr.NotFound))
		})
		t.Run("refresh tokens are claimed once", func(t *testing.T) {
			b := setupStore(d)
			ses := b.session(t, b.user(t, "linus").ID, b.now.Add(time.Hour))
			rt := &refreshToken{ID: ids.New(), SessionID: ses.ID, TokenHash: "hash-" + ids.New(), CreatedAt: b.now}
			require.NoError(t, b.s.insertRefresh(b.ctx, b.d.W, rt))
			got, err := b.s.refreshByHash(b.ctx, b.d.R, rt.TokenHash)
			require.NoError(t, err)
			require.Nil(t, got.UsedAt)
			_, err = b.s.refreshByHash(b.ctx, b.d.R, "hash-unknown")
			require.True(t, apperr.Is(err, apperr.NotFound))

			used, succ, enc := b.now.Add(time.Minute), ids.New(), "sealed"
			rt.UsedAt, rt.SuccessorID, rt.SuccessorEnc = &used, &succ, &enc
			ok, err := b.s.claimRefresh(b.ctx, b.d.W, rt)
			require.NoError(t, err)
			require.True(t, ok)
			ok, err = b.s.claimRefresh(b.ctx, b.d.W, rt)
			require.NoError(t, err)
			require.False(t, ok, "the second claim loses")
			got, err = b.s.refreshByHash(b.ctx, b.d.R, rt.TokenHash)
			require.NoError(t, err)
			require.Equal(t, succ, *got.SuccessorID)
			require.Equal(t, enc, *got.SuccessorEnc)

			n, err := b.s.forgetSuccessors(b.ctx, used)
			require.NoError(t, err)
			require.Zero(t, n, "a successor used at the cutoff is kept")
			n, err = b.s.forgetSuccessors(b.ctx, used.Add(time.Second))
			require.NoError(t, err)
			require.EqualValues(t, 1, n)
			got, err = b.s.refreshByHash(b.ctx, b.d.R, rt.TokenHash)
			require.NoError(t, err)
			require.Nil(t, got.SuccessorEnc, "its secret is gone")
			require.Equal(t, succ, *got.SuccessorID, "the link stays")
		})
		t.Run("api keys", func(t *testing.T) {
			b := setupStore(d)
			u, other := b.user(t, "ken"), b.user(t, "rob")
			key := func(owner, name string) *APIKey {
				k := &APIKey{ID: ids.New(), UserID: owner, Name: name, Prefix: "pk_" + name, KeyHash: "hash-" + ids.New(), Scopes: "read,write", CreatedAt: b.now}
				require.NoError(t, b.s.createAPIKey(b.ctx, b.d.W, k))
				return k
			}
			ci, deploy := key(u.ID, "ci"), key(u.ID, "deploy")
			key(other.ID, "theirs")
			k, owner, err := b.s.apiKeyByHash(b.ctx, ci.KeyHash)
			require.NoError(t, err)
			require.Equal(t, ci.ID, k.ID)
			require.Equal(t, u.ID, owner.ID)
			require.Equal(t, "read,write", k.Scopes)

			require.True(t, apperr.Is(b.s.revokeAPIKey(b.ctx, b.d.W, other.ID, ci.ID, b.now), apperr.NotFound), "another user's key")
			require.NoError(t, b.s.revokeAPIKey(b.ctx, b.d.W, u.ID, ci.ID, b.now))
			require.True(t, apperr.Is(b.s.revokeAPIKey(b.ctx, b.d.W, u.ID, ci.ID, b.now), apperr.NotFound), "a revoked key stays revoked")
			_, _, err = b.s.apiKeyByHash(b.ctx, ci.KeyHash)
			require.True(t, apperr.Is(err, apperr.NotFound), "a revoked key does not authenticate")
			live, err := b.s.apiKeys(b.ctx, u.ID)
			require.NoError(t, err)
			require.Len(t, live, 1)
			require.Equal(t, deploy.ID, live[0].ID)

			require.NoError(t, b.s.touchAPIKey(b.ctx, deploy.ID, b.now.Add(time.Hour)))
			k, _, err = b.s.apiKeyByHash(b.ctx, deploy.KeyHash)
			require.NoError(t, err)
			require.True(t, b.now.Add(time.Hour).Equal(*k.LastUsedAt))

			key(u.ID, "another")
			n, err := b.s.revokeAllAPIKeys(b.ctx, b.d.W, u.ID, b.now)
			require.NoError(t, err)
			require.EqualValues(t, 2, n)
			theirs, err := b.s.apiKeys(b.ctx, other.ID)
			require.NoError(t, err)
			require.Len(t, theirs, 1, "another user's keys are untouched")
		})
	})
}
