// Package auth is identity and access: accounts, passwords, sessions with
// rotating refresh tokens, signed access tokens and their revocation, API
// keys, roles and the admin operations on users.
package auth

import (
	"time"

	"github.com/uptrace/bun"
)

// User is an account.
type User struct {
	bun.BaseModel `bun:"table:users"`

	ID                string     `bun:"id,pk"`
	Email             string     `bun:"email,notnull"`
	EmailVerifiedAt   *time.Time `bun:"email_verified_at"`
	PasswordHash      *string    `bun:"password_hash"`
	Name              string     `bun:"name,notnull"`
	AvatarURL         string     `bun:"avatar_url,notnull"`
	Timezone          string     `bun:"timezone,notnull"`
	Locale            string     `bun:"locale,notnull"`
	Role              string     `bun:"role,notnull"`
	Active            bool       `bun:"active,notnull"`
	PasswordChangedAt *time.Time `bun:"password_changed_at"`
	CreatedAt         time.Time  `bun:"created_at,notnull"`
	UpdatedAt         time.Time  `bun:"updated_at,notnull"`
}

// Session is one sign-in on one device; its refresh tokens form a family.
type Session struct {
	bun.BaseModel `bun:"table:auth_sessions"`

	ID           string     `bun:"id,pk"`
	UserID       string     `bun:"user_id,notnull"`
	AAL          string     `bun:"aal,notnull"`
	IP           string     `bun:"ip,notnull"`
	UserAgent    string     `bun:"user_agent,notnull"`
	CreatedAt    time.Time  `bun:"created_at,notnull"`
	RefreshedAt  time.Time  `bun:"refreshed_at,notnull"`
	ExpiresAt    time.Time  `bun:"expires_at,notnull"`
	RevokedAt    *time.Time `bun:"revoked_at"`
	RevokeReason string     `bun:"revoke_reason,notnull"`
}

// refreshToken is one link of a session's refresh chain. Only its hash is
// stored. Once used it points at its successor, whose secret is kept
// (encrypted) for the grace window so a duplicate concurrent refresh gets
// the same answer.
type refreshToken struct {
	bun.BaseModel `bun:"table:auth_refresh_tokens"`

	ID           string     `bun:"id,pk"`
	SessionID    string     `bun:"session_id,notnull"`
	TokenHash    string     `bun:"token_hash,notnull"`
	CreatedAt    time.Time  `bun:"created_at,notnull"`
	UsedAt       *time.Time `bun:"used_at"`
	SuccessorID  *string    `bun:"successor_id"`
	SuccessorEnc *string    `bun:"successor_enc"`
}

// APIKey is a long-lived credential for scripts and servers.
type APIKey struct {
	bun.BaseModel `bun:"table:api_keys"`

	ID         string     `bun:"id,pk"`
	UserID     string     `bun:"user_id,notnull"`
	Name       string     `bun:"name,notnull"`
	Prefix     string     `bun:"prefix,notnull"`
	KeyHash    string     `bun:"key_hash,notnull"`
	Scopes     string     `bun:"scopes,notnull"` // comma-separated
	CreatedAt  time.Time  `bun:"created_at,notnull"`
	LastUsedAt *time.Time `bun:"last_used_at"`
	ExpiresAt  *time.Time `bun:"expires_at"`
	RevokedAt  *time.Time `bun:"revoked_at"`
}
