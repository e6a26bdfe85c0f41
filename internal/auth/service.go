package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/audit"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/platform/kv"
	"github.com/pulse-run/pulse/internal/platform/ratelimit"
	"github.com/pulse-run/pulse/internal/platform/reqmeta"
	"github.com/pulse-run/pulse/internal/platform/vault"
)

// Config holds auth's settings.
type Config struct {
	Issuer       string        // iss of access tokens (the public URL)
	Audience     string        // aud of access tokens
	AccessTTL    time.Duration // access token lifetime (15 min)
	SessionTTL   time.Duration // a session's refresh lifetime (30 days)
	RefreshGrace time.Duration // a duplicate refresh within this gets the same successor (10 s)
	AppURL       string        // the web app's base URL, for links in email
	Hash         HashParams
	Limits       Limits
}

// Limits are the rate limits on the sensitive endpoints.
type Limits struct {
	LoginPerIP ratelimit.Limit // every attempt
	// LoginFailsPerAccountIP counts failed attempts per (account, address):
	// an attacker runs out at one account without touching its owner, who
	// signs in from elsewhere.
	LoginFailsPerAccountIP ratelimit.Limit
	// LoginFailsPerAccount is the account's own ceiling, far above what one
	// address can reach, so only a wide, distributed guessing hits it.
	LoginFailsPerAccount ratelimit.Limit
	RegisterPerIP        ratelimit.Limit
	RefreshPerIP         ratelimit.Limit
	TokenPerIP           ratelimit.Limit // verify, reset and forgot attempts
	EmailPerAccount      ratelimit.Limit // verification and reset emails per account
}

// DefaultLimits are the production limits.
var DefaultLimits = Limits{
	LoginPerIP:             ratelimit.PerMinute(30),
	LoginFailsPerAccountIP: ratelimit.Limit{Rate: 10, Period: 15 * time.Minute, Burst: 10},
	LoginFailsPerAccount:   ratelimit.Limit{Rate: 200, Period: time.Hour, Burst: 100},
	RegisterPerIP:          ratelimit.PerMinute(10),
	RefreshPerIP:           ratelimit.PerMinute(60),
	TokenPerIP:             ratelimit.PerMinute(20),
	EmailPerAccount:        ratelimit.Limit{Rate: 5, Period: time.Hour, Burst: 5},
}

// Deps are what the service is built from.
type Deps struct {
	DB          *db.DB
	Vault       *vault.Vault
	KV          *kv.Store
	Redis       *redis.Client // optional: revocations go there
	RedisPrefix string
	Audit       *audit.Log
	Limiter     ratelimit.Limiter
	Mailer      Mailer
	Providers   []*Provider // enabled OAuth/OIDC providers
	// SingleProcess says this process makes every revocation (an embedded
	// install), so revocation checks can be answered from memory.
	SingleProcess bool
	Logger        *slog.Logger
	Now           func() time.Time
}

// Service holds auth's rules.
type Service struct {
	cfg       Config
	db        *db.DB
	store     *store
	vault     *vault.Vault
	keys      *keySet
	tokens    *tokenIssuer
	hasher    *Hasher
	revoked   revocations
	kv        *kv.Store
	mailer    Mailer
	audit     *audit.Log
	limiter   ratelimit.Limiter
	providers map[string]*Provider
	log       *slog.Logger
	now       func() time.Time
}

// New builds the service and makes sure a signing key exists.
func New(ctx context.Context, cfg Config, d Deps) (*Service, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler) // nil logs nothing: the caller injects its logger
	}
	keys, err := newKeySet(ctx, d.DB, d.Vault, cfg.AccessTTL)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, db: d.DB, store: &store{db: d.DB}, vault: d.Vault, keys: keys,
		tokens:  newTokenIssuer(keys, cfg.Issuer, cfg.Audience, cfg.AccessTTL, d.Now),
		hasher:  NewHasher(cfg.Hash),
		revoked: kvRevocations{kv: d.KV}, kv: d.KV, mailer: d.Mailer,
		audit: d.Audit, limiter: d.Limiter, log: d.Logger, now: d.Now,
	}
	switch {
	case d.Redis != nil:
		s.revoked = redisRevocations{c: d.Redis, prefix: d.RedisPrefix}
	case d.SingleProcess:
		if s.revoked, err = newMemRevocations(ctx, d.KV, d.Now, cfg.AccessTTL+time.Minute); err != nil {
			return nil, err
		}
	}
	s.providers = map[string]*Provider{}
	for _, p := range d.Providers {
		s.providers[p.Name] = p
	}
	return s, nil
}

// Tokens is what a successful sign-in or refresh returns.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type" example:"bearer"`
	ExpiresIn    int    `json:"expires_in" doc:"access token lifetime in seconds"`
}

// --- validation -----------------------------------------------------------

func normalizeEmail(raw string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(raw))
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || len(e) > 254 || !strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".") {
		return "", apperr.InvalidField("body.email", "must be an email address like name@example.com")
	}
	return e, nil
}

func checkPassword(field, p string) error {
	if len(p) > 1024 {
		return apperr.InvalidField(field, "must be at most 1,024 bytes")
	}
	if utf8.RuneCountInString(p) < 10 {
		return apperr.InvalidField(field, "must be at least 10 characters")
	}
	return nil
}

// --- rate limits ----------------------------------------------------------

func (s *Service) limit(ctx context.Context, key string, l ratelimit.Limit, n int) error {
	if s.limiter == nil || l.Rate == 0 {
		return nil
	}
	r, err := s.limiter.AllowN(ctx, key, l, n)
	if err != nil {
		// A limiter outage must not lock everyone out; log and allow.
		s.log.WarnContext(ctx, "rate limiter unavailable", "err", err)
		return nil
	}
	if r.Allowed {
		return nil
	}
	e := apperr.New(apperr.RateLimited, "too many attempts; retry later")
	e.Retry = &apperr.Retry{After: max(r.RetryAfter, time.Second), Limit: l.Rate, Remaining: r.Remaining, Reset: r.ResetAfter}
	return e
}

// --- registration and sign-in ----------------------------------------------

// RegisterParams is a new account.
type RegisterParams struct {
	Email    string
	Password string
	Name     string
	Role     string // only for CreateUser (the CLI); Register ignores it
}

// Register creates an account with the user role.
func (s *Service) Register(ctx context.Context, p RegisterParams) (*User, error) {
	if err := s.limit(ctx, "register:ip:"+clientBucket(ctx), s.cfg.Limits.RegisterPerIP, 1); err != nil {
		return nil, err
	}
	p.Role = authn.RoleUser
	return s.createUser(ctx, p)
}

// CreateUser creates an account with any role. It is for operators (the
// `pulse user create` command), not for the API.
func (s *Service) CreateUser(ctx context.Context, p RegisterParams) (*User, error) {
	if p.Role != authn.RoleAdmin {
		p.Role = authn.RoleUser
	}
	return s.createUser(ctx, p)
}

func (s *Service) createUser(ctx context.Context, p RegisterParams) (*User, error) {
	email, err := normalizeEmail(p.Email)
	if err != nil {
		return nil, err
	}
	if err := checkPassword("body.password", p.Password); err != nil {
		return nil, err
	}
	if len(p.Name) > 200 {
		return nil, apperr.InvalidField("body.name", "must be at most 200 characters")
	}
	hash, err := s.hasher.Hash(ctx, p.Password)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	u := &User{ID: ids.New(), Email: email, PasswordHash: &hash, Name: strings.TrimSpace(p.Name), Timezone: "UTC", Locale: "en",
		Role: p.Role, Active: true, PasswordChangedAt: &now, CreatedAt: now, UpdatedAt: now}
	err = s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := s.store.createUser(ctx, tx, u); err != nil {
			return err
		}
		if err := s.audit.RecordTx(ctx, tx, audit.Event{Action: "user.register", ActorID: u.ID, SubjectID: u.ID, Details: map[string]any{"role": u.Role}}); err != nil {
			return err
		}
		return s.sendVerificationTx(ctx, tx, u)
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

var errBadCredentials = apperr.New(apperr.Unauthenticated, "invalid email or password")

// PasswordLogin signs in with email and password. Every failure looks the
// same to the caller and takes about as long, whether or not the account
// exists.
func (s *Service) PasswordLogin(ctx context.Context, email, password string) (*Tokens, error) {
	if err := s.limit(ctx, "login:ip:"+clientBucket(ctx), s.cfg.Limits.LoginPerIP, 1); err != nil {
		return nil, err
	}
	email = strings.ToLower(strings.TrimSpace(email))
	if err := s.passwordFailuresAllowed(ctx, email); err != nil {
		s.recordLogin(ctx, "", audit.Failure, "rate_limited")
		return nil, err
	}
	u, err := s.store.userByEmail(ctx, email)
	if err != nil && !apperr.Is(err, apperr.NotFound) {
		return nil, err
	}
	hash := ""
	if err == nil && u.PasswordHash != nil {
		hash = *u.PasswordHash
	} else if err != nil {
		u = nil
	}
	if len(password) > 1024 {
		password = password[:1024] // hash the same amount of work; it cannot match
		hash = ""
	}
	ok, rehash, herr := s.hasher.Verify(ctx, password, hash)
	if herr != nil {
		return nil, herr
	}
	if !ok || !u.Active {
		s.passwordFailed(ctx, email)
		reason, subject := "bad_credentials", ""
		if u != nil {
			subject = u.ID
			if ok {
				reason = "deactivated"
			}
		}
		s.recordLogin(ctx, subject, audit.Failure, reason)
		return nil, errBadCredentials
	}
	if rehash {
		if h, err := s.hasher.Hash(ctx, password); err == nil {
			u.PasswordHash, u.UpdatedAt = &h, s.now().UTC()
			if err := s.store.updateUser(ctx, s.db.W, u, "password_hash"); err != nil {
				s.log.WarnContext(ctx, "rehash password", "err", err)
			}
		}
	}
	if on, err := s.mfaEnabled(ctx, u.ID); err != nil {
		return nil, err
	} else if on {
		return nil, s.mfaChallenge(ctx, u)
	}
	return s.startSession(ctx, u, "aal1", "password")
}

// passwordFailKeys are the limiter keys of failed passwords for an account:
// per (account, client address), and per account.
func passwordFailKeys(ctx context.Context, email string) (pair, account string) {
	return "login:fail-ip:" + clientBucket(ctx) + " " + email, "login:fail:" + email
}

// passwordFailuresAllowed refuses once either failure count is spent. Every
// check of a password (sign-in, or the current one when changing it) goes
// through it, so no path guesses past the limit.
func (s *Service) passwordFailuresAllowed(ctx context.Context, email string) error {
	pair, account := passwordFailKeys(ctx, email)
	if err := s.limit(ctx, pair, s.cfg.Limits.LoginFailsPerAccountIP, 0); err != nil {
		return err
	}
	return s.limit(ctx, account, s.cfg.Limits.LoginFailsPerAccount, 0)
}

// passwordFailed counts a wrong password against both.
func (s *Service) passwordFailed(ctx context.Context, email string) {
	pair, account := passwordFailKeys(ctx, email)
	_ = s.limit(ctx, pair, s.cfg.Limits.LoginFailsPerAccountIP, 1)
	_ = s.limit(ctx, account, s.cfg.Limits.LoginFailsPerAccount, 1)
}

func (s *Service) recordLogin(ctx context.Context, userID, outcome, reason string) {
	if err := s.audit.Record(ctx, audit.Event{Action: "auth.login", Outcome: outcome, ActorID: userID, SubjectID: userID,
		Details: map[string]any{"reason": reason}}); err != nil {
		s.log.ErrorContext(ctx, "audit", "err", err)
	}
}

// clientBucket is what every per-address limit counts the request's client
// as (reqmeta's address, IPv6 by its /64): one function, so no limit can be
// dodged by rotating through a /64.
func clientBucket(ctx context.Context) string { return ipBucket(reqmeta.From(ctx).IP) }

// ipBucket is the address a limit counts: an IPv4 address, or an IPv6
// address's /64, since one subscriber gets a whole /64 and could otherwise
// rotate through it.
func ipBucket(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

func newSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// startSession opens a session and returns its first tokens.
func (s *Service) startSession(ctx context.Context, u *User, aal, method string) (*Tokens, error) {
	now := s.now().UTC()
	c := reqmeta.From(ctx)
	ses := &Session{ID: ids.New(), UserID: u.ID, AAL: aal, IP: c.IP, UserAgent: truncate(c.UserAgent, 500),
		CreatedAt: now, RefreshedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	refresh := newSecret()
	err := s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := s.store.createSession(ctx, tx, ses); err != nil {
			return err
		}
		if err := s.store.insertRefresh(ctx, tx, &refreshToken{ID: ids.New(), SessionID: ses.ID, TokenHash: hashSecret(refresh), CreatedAt: now}); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "auth.login", ActorID: u.ID, SubjectID: u.ID,
			Details: map[string]any{"method": method, "session_id": ses.ID, "aal": aal}})
	})
	if err != nil {
		return nil, err
	}
	return s.tokensFor(ctx, u, ses, refresh)
}

func (s *Service) tokensFor(ctx context.Context, u *User, ses *Session, refresh string) (*Tokens, error) {
	access, _, err := s.tokens.issue(ctx, issueParams{UserID: u.ID, SessionID: ses.ID, Role: u.Role, AAL: ses.AAL})
	if err != nil {
		return nil, err
	}
	return &Tokens{AccessToken: access, RefreshToken: refresh, TokenType: "bearer", ExpiresIn: int(s.cfg.AccessTTL.Seconds())}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

var errBadRefresh = apperr.New(apperr.Unauthenticated, "invalid or expired refresh token")

// Refresh exchanges a refresh token for new tokens. Each refresh token works
// once. Presenting a used one means it was stolen or replayed: the whole
// session is revoked. The exception is a duplicate within the grace window
// (two tabs refreshing at once), which gets the same successor.
func (s *Service) Refresh(ctx context.Context, token string) (*Tokens, error) {
	if err := s.limit(ctx, "refresh:ip:"+clientBucket(ctx), s.cfg.Limits.RefreshPerIP, 1); err != nil {
		return nil, err
	}
	if token == "" || len(token) > 200 {
		return nil, errBadRefresh
	}
	now := s.now().UTC()
	rt, err := s.store.refreshByHash(ctx, s.db.W, hashSecret(token))
	if apperr.Is(err, apperr.NotFound) {
		return nil, errBadRefresh
	}
	if err != nil {
		return nil, err
	}
	ses, err := s.store.sessionByID(ctx, s.db.W, rt.SessionID)
	if err != nil {
		return nil, err
	}
	if ses.RevokedAt != nil || !ses.ExpiresAt.After(now) {
		return nil, errBadRefresh
	}
	u, err := s.store.userByID(ctx, s.db.W, ses.UserID)
	if err != nil || !u.Active {
		return nil, errBadRefresh
	}
	if rt.UsedAt == nil {
		next := newSecret()
		enc, err := s.vault.Encrypt([]byte(next), "refresh_successor:"+rt.ID)
		if err != nil {
			return nil, err
		}
		nextID := ids.New()
		rt.UsedAt, rt.SuccessorID, rt.SuccessorEnc = &now, &nextID, &enc
		claimed := false
		err = s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			var err error
			if claimed, err = s.store.claimRefresh(ctx, tx, rt); err != nil || !claimed {
				return err
			}
			if err := s.store.insertRefresh(ctx, tx, &refreshToken{ID: nextID, SessionID: ses.ID, TokenHash: hashSecret(next), CreatedAt: now}); err != nil {
				return err
			}
			return s.store.touchSession(ctx, tx, ses.ID, now)
		})
		if err != nil {
			return nil, err
		}
		if claimed {
			return s.tokensFor(ctx, u, ses, next)
		}
		// Someone else used it a moment ago: fall through to the used path.
		if rt, err = s.store.refreshByHash(ctx, s.db.W, hashSecret(token)); err != nil {
			return nil, err
		}
	}
	if now.Sub(*rt.UsedAt) <= s.cfg.RefreshGrace && rt.SuccessorEnc != nil {
		next, err := s.vault.Decrypt(ctx, *rt.SuccessorEnc, "refresh_successor:"+rt.ID)
		if err != nil {
			return nil, err
		}
		return s.tokensFor(ctx, u, ses, string(next))
	}
	if err := s.revokeSessions(ctx, revokeSessionsParams{UserID: u.ID, SessionID: ses.ID, Reason: "refresh_token_reused"}); err != nil {
		return nil, err
	}
	if err := s.audit.Record(ctx, audit.Event{Action: "auth.refresh_reused", Outcome: audit.Failure, SubjectID: u.ID,
		Details: map[string]any{"session_id": ses.ID}}); err != nil {
		return nil, err
	}
	return nil, errBadRefresh
}

// revokeSessions revokes sessions in the database and denies their access
// tokens at once.
func (s *Service) revokeSessions(ctx context.Context, p revokeSessionsParams) error {
	p.At = s.now().UTC()
	revoked, err := s.store.revokeSessions(ctx, s.db.W, p)
	if err != nil {
		return err
	}
	for _, id := range revoked {
		if err := s.revoked.revoke(ctx, revokeKey("sid", id), p.At, s.cfg.AccessTTL+time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// Logout ends the caller's session: its refresh token and this access token
// stop working at once.
func (s *Service) Logout(ctx context.Context) error {
	p, err := authn.Require(ctx)
	if err != nil {
		return err
	}
	if !p.IsSession() {
		return apperr.New(apperr.Invalid, "an API key has no session to log out of; revoke the key instead")
	}
	if err := s.revokeSessions(ctx, revokeSessionsParams{UserID: p.UserID, SessionID: p.SessionID, Reason: "logout"}); err != nil {
		return err
	}
	if err := s.revoked.revoke(ctx, revokeKey("jti", p.TokenID), s.now(), time.Until(p.ExpiresAt)+time.Minute); err != nil {
		return err
	}
	return s.audit.Record(ctx, audit.Event{Action: "auth.logout", ActorID: p.UserID, SubjectID: p.UserID, Details: map[string]any{"session_id": p.SessionID}})
}

// Authenticate turns a bearer credential (access token or API key) into a
// principal, or fails with Unauthenticated.
func (s *Service) Authenticate(ctx context.Context, bearer string) (*authn.Principal, error) {
	if strings.HasPrefix(bearer, apiKeyPrefix) {
		return s.authenticateAPIKey(ctx, bearer)
	}
	c, err := s.tokens.verify(ctx, bearer)
	if err != nil {
		return nil, err
	}
	revoked, err := s.revoked.revokedAt(ctx, revokeKey("jti", c.ID), revokeKey("sid", c.SessionID), revokeKey("user", c.Subject))
	if err != nil {
		return nil, fmt.Errorf("auth: check revocation: %w", err)
	}
	if _, ok := revoked[revokeKey("jti", c.ID)]; ok {
		return nil, errBadToken
	}
	if _, ok := revoked[revokeKey("sid", c.SessionID)]; ok {
		return nil, errBadToken
	}
	if at, ok := revoked[revokeKey("user", c.Subject)]; ok && !issuedAt(c).After(at) {
		return nil, errBadToken
	}
	role := authn.RoleUser
	if len(c.Roles) > 0 {
		role = c.Roles[0]
	}
	return &authn.Principal{UserID: c.Subject, Role: role, SessionID: c.SessionID, TokenID: c.ID, AAL: c.AAL, ExpiresAt: c.ExpiresAt.Time}, nil
}

// issuedAt is when a token was made, to the microsecond (iat has whole
// seconds only, too coarse to tell a token made just after a revocation from
// one made just before).
func issuedAt(c *accessClaims) time.Time {
	if c.IssuedMicros > 0 {
		return time.UnixMicro(c.IssuedMicros)
	}
	return c.IssuedAt.Time
}

// revokeUser denies every access token of a user issued until now (role
// change, deactivation). Sessions are revoked separately when they must end.
func (s *Service) revokeUser(ctx context.Context, userID string) error {
	return s.revoked.revoke(ctx, revokeKey("user", userID), s.now(), s.cfg.AccessTTL+time.Minute)
}

// JWKS returns the public keys that verify access tokens.
func (s *Service) JWKS() []JWK { return s.keys.keys() }

// RotateSigningKey starts signing with a new key; tokens signed by the old
// one stay valid until they expire.
func (s *Service) RotateSigningKey(ctx context.Context) (string, error) { return s.keys.rotate(ctx) }

// RewrapSecrets re-encrypts auth's secrets under the vault's active key.
func (s *Service) RewrapSecrets(ctx context.Context) (int, error) {
	n, err := s.keys.rewrap(ctx)
	if err != nil {
		return n, err
	}
	m, err := s.rewrapTOTP(ctx)
	if err != nil {
		return n + m, err
	}
	k, err := s.rewrapIdentities(ctx)
	return n + m + k, err
}

// PruneSuccessors forgets refresh successors past their grace window (a
// maintenance pruner).
func (s *Service) PruneSuccessors(ctx context.Context) (int64, error) {
	return s.store.forgetSuccessors(ctx, s.now().UTC().Add(-s.cfg.RefreshGrace-time.Minute))
}
