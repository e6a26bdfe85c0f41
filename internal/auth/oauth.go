package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"golang.org/x/oauth2"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/audit"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/platform/kv"
)

// Identity links an account to a provider's user.
type Identity struct {
	bun.BaseModel `bun:"table:auth_identities"`

	ID              string    `bun:"id,pk"`
	UserID          string    `bun:"user_id,notnull"`
	Provider        string    `bun:"provider,notnull"`
	Subject         string    `bun:"subject,notnull"`
	Email           string    `bun:"email,notnull"`
	AccessTokenEnc  string    `bun:"access_token_enc,notnull"`
	RefreshTokenEnc string    `bun:"refresh_token_enc,notnull"`
	CreatedAt       time.Time `bun:"created_at,notnull"`
	LastLoginAt     time.Time `bun:"last_login_at,notnull"`
}

const (
	stateNamespace     = "auth.oauth_state"
	loginCodeNamespace = "auth.login_code"
	stateTTL           = 10 * time.Minute
	loginCodeTTL       = 2 * time.Minute
)

// oauthState is what a sign-in remembers between leaving for the provider
// and coming back. It is single use.
type oauthState struct {
	Provider   string `json:"provider"`
	Verifier   string `json:"verifier"` // PKCE
	Nonce      string `json:"nonce"`
	RedirectTo string `json:"redirect_to"`
	LinkUserID string `json:"link_user_id,omitempty"` // linking to a signed-in account
	// Binding is the hash of the random value in the binding cookie of the
	// browser that started the flow: the callback must come from it.
	Binding string `json:"binding"`
	// AppChallenge is the app's own PKCE code_challenge (S256), passed on
	// to the login code: only the app's code_verifier exchanges it.
	AppChallenge string `json:"app_challenge,omitempty"`
}

// Providers lists the enabled providers' names.
func (s *Service) Providers() []string {
	out := make([]string, 0, len(s.providers))
	for n := range s.providers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (s *Service) provider(name string) (*Provider, error) {
	p, ok := s.providers[name]
	if !ok {
		return nil, apperr.Errorf(apperr.NotFound, "sign-in with %q is not enabled", name)
	}
	return p, nil
}

func (s *Service) callbackURL(provider string) string {
	return s.cfg.Issuer + "/api/v1/auth/oauth/" + provider + "/callback"
}

// safeRedirect accepts only a path on the app ("/dashboard"), so the flow
// cannot be turned into an open redirect.
func safeRedirect(p string) (string, error) {
	if p == "" {
		return "/", nil
	}
	u, err := url.Parse(p)
	if err != nil || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || u.Host != "" || u.Scheme != "" || len(p) > 1000 {
		return "", apperr.InvalidField("query.redirect_to", "must be a path on the app, like /dashboard")
	}
	return p, nil
}

// StartOAuthParams begin a sign-in, or with Link a linking of the
// signed-in account.
type StartOAuthParams struct {
	Provider   string
	RedirectTo string
	Link       bool
	// Binding is the browser's binding cookie, if it sent one.
	Binding string
	// CodeChallenge and CodeChallengeMethod are the app's PKCE challenge
	// (S256 only), binding the login code to the app's code_verifier. A
	// linking yields no login code and takes none.
	CodeChallenge       string
	CodeChallengeMethod string
}

// OAuthStart is where to send the browser, and the binding cookie to set
// on it first.
type OAuthStart struct {
	URL    string
	Cookie *http.Cookie
}

// StartOAuth returns the provider URL that begins a sign-in or a linking,
// and the cookie that binds its state to this browser.
func (s *Service) StartOAuth(ctx context.Context, in StartOAuthParams) (*OAuthStart, error) {
	if in.Link { // who may link is checked before anything is looked up
		if _, err := s.requireSession(ctx); err != nil {
			return nil, err
		}
	}
	p, err := s.provider(in.Provider)
	if err != nil {
		return nil, err
	}
	redirectTo, err := safeRedirect(in.RedirectTo)
	if err != nil {
		return nil, err
	}
	if in.Link && (in.CodeChallenge != "" || in.CodeChallengeMethod != "") {
		return nil, apperr.InvalidField("body.code_challenge", "a linking yields no login code, so it takes no code_challenge")
	}
	if err := validCodeChallenge(in.CodeChallenge, in.CodeChallengeMethod); err != nil {
		return nil, err
	}
	st := oauthState{Provider: in.Provider, Verifier: oauth2.GenerateVerifier(), Nonce: newSecret(), RedirectTo: redirectTo, AppChallenge: in.CodeChallenge}
	if in.Link {
		pr, err := s.requireSession(ctx)
		if err != nil {
			return nil, err
		}
		st.LinkUserID = pr.UserID
	}
	// A browser already holding a binding keeps it, so two sign-ins started
	// in two tabs both finish.
	binding := in.Binding
	if !wellFormedSecret(binding) {
		binding = newSecret()
	}
	st.Binding = hashSecret(binding)
	b, _ := json.Marshal(st)
	state := newSecret()
	if err := s.kv.Put(ctx, kv.PutParams{Namespace: stateNamespace, Key: hashSecret(state), Value: b, TTL: stateTTL}); err != nil {
		return nil, err
	}
	return &OAuthStart{URL: p.authCodeURL(s.callbackURL(in.Provider), state, st.Verifier, st.Nonce), Cookie: s.bindingCookie(binding)}, nil
}

// OAuthErrorCode is the error a failed sign-in reports back to the app, in
// the callback's redirect (?error=…&error_description=…).
type OAuthErrorCode string

// The codes the app may receive from a provider callback.
const (
	OAuthAccessDenied   OAuthErrorCode = "access_denied"
	OAuthEmailRequired  OAuthErrorCode = "email_required"
	OAuthIdentityTaken  OAuthErrorCode = "identity_taken"
	OAuthInvalidRequest OAuthErrorCode = "invalid_request"
	OAuthInvalidState   OAuthErrorCode = "invalid_state"
	OAuthProviderError  OAuthErrorCode = "provider_error"
	OAuthServerError    OAuthErrorCode = "server_error"
	// OAuthLinkRequired: an account with this email exists, but it cannot be
	// joined automatically (the provider does not vouch for the address, or
	// the account never proved it owns it). Sign in to it, then link.
	OAuthLinkRequired OAuthErrorCode = "account_link_required"
)

// oauthError is a failed sign-in reported back to the app.
type oauthError struct {
	code        OAuthErrorCode
	description string
}

func (e *oauthError) Error() string { return string(e.code) + ": " + e.description }

func errLinkRequired(provider string) *oauthError {
	return &oauthError{OAuthLinkRequired, "an account with this email exists; sign in to it (or reset its password), then link " + provider + " from your settings"}
}

// CallbackParams are what the provider's redirect brings back (RFC 6749
// 4.1.2, RFC 9207's iss) and the browser's binding cookie.
type CallbackParams struct {
	Provider         string
	Code             string
	State            string
	Error            string
	ErrorDescription string
	Issuer           string
	Binding          string
}

// errStateNotBound is the one callback failure answered with a problem
// (403) rather than a redirect to the app.
func errStateNotBound() *apperr.Error {
	return &apperr.Error{Code: apperr.PermissionDenied,
		Message:    "this sign-in was not started in this browser, or it took too long; start it again from here",
		Extensions: map[string]any{"error": "state_not_bound"}}
}

// FinishOAuth handles the provider's callback and returns where to send
// the browser: the app, with a one-time login code or an error. Nothing
// about any account changes unless the whole sign-in is valid. A callback
// the browser did not start (no binding cookie, or another browser's) is
// refused with an error instead of a redirect: it is someone else's flow
// pushed into this browser (login or link CSRF), and the state stays usable
// by the browser that did start it.
func (s *Service) FinishOAuth(ctx context.Context, in CallbackParams) (string, error) {
	redirectTo := "/"
	result, err := s.finishOAuth(ctx, in, &redirectTo)
	if e, ok := apperr.As(err); ok && e.Extensions["error"] == "state_not_bound" {
		_ = s.audit.Record(ctx, audit.Event{Action: "auth.oauth_login", Outcome: audit.Failure, Details: map[string]any{"provider": in.Provider, "error": "state_not_bound"}})
		return "", err
	}
	q := url.Values{}
	if err != nil {
		var oe *oauthError
		if !errors.As(err, &oe) {
			s.log.ErrorContext(ctx, "oauth callback", "provider", in.Provider, "err", err)
			oe = &oauthError{OAuthServerError, "the sign-in could not be completed"}
		}
		_ = s.audit.Record(ctx, audit.Event{Action: "auth.oauth_login", Outcome: audit.Failure, Details: map[string]any{"provider": in.Provider, "error": string(oe.code)}})
		q.Set("error", string(oe.code))
		q.Set("error_description", oe.description)
	} else {
		q.Set(result.key, result.value)
	}
	sep := "?"
	if strings.Contains(redirectTo, "?") {
		sep = "&"
	}
	return s.cfg.AppURL + redirectTo + sep + q.Encode(), nil
}

type oauthResult struct{ key, value string }

func (s *Service) finishOAuth(ctx context.Context, in CallbackParams, redirectTo *string) (*oauthResult, error) {
	provider := in.Provider
	if len(in.State) == 0 || len(in.State) > 200 {
		return nil, &oauthError{OAuthInvalidState, "the sign-in expired or was not started here; try again"}
	}
	key := hashSecret(in.State)
	raw, err := s.kv.Get(ctx, stateNamespace, key)
	if apperr.Is(err, apperr.NotFound) {
		return nil, &oauthError{OAuthInvalidState, "the sign-in expired or was not started here; try again"}
	}
	if err != nil {
		return nil, err
	}
	var st oauthState
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, err
	}
	if !wellFormedSecret(in.Binding) || subtle.ConstantTimeCompare([]byte(hashSecret(in.Binding)), []byte(st.Binding)) != 1 {
		return nil, errStateNotBound()
	}
	// Single use, from here on: whoever takes it first wins.
	if _, err := s.kv.Take(ctx, stateNamespace, key); apperr.Is(err, apperr.NotFound) {
		return nil, &oauthError{OAuthInvalidState, "the sign-in expired or was not started here; try again"}
	} else if err != nil {
		return nil, err
	}
	*redirectTo = st.RedirectTo
	if st.Provider != provider {
		return nil, &oauthError{OAuthInvalidState, "the sign-in was started with another provider"}
	}
	if in.Error != "" {
		// The provider's own words are not repeated to the app: only a
		// well-formed error code (RFC 6749 5.2) is, never the free-text
		// description, which anyone can put in a link.
		s.log.InfoContext(ctx, "oauth provider refused", "provider", provider, "error", truncate(in.Error, 64), "description", truncate(in.ErrorDescription, 200))
		msg := "the provider did not sign you in"
		if oauthErrorToken(in.Error) {
			msg += " (" + in.Error + ")"
		}
		return nil, &oauthError{OAuthAccessDenied, msg}
	}
	p, err := s.provider(provider)
	if err != nil {
		return nil, &oauthError{OAuthInvalidRequest, "this provider is not enabled"}
	}
	if in.Issuer != "" && !p.issuedBy(in.Issuer) {
		// RFC 9207: the response names another issuer (a mix-up attack).
		return nil, &oauthError{OAuthInvalidRequest, "the response came from another issuer"}
	}
	if in.Code == "" || len(in.Code) > 2000 {
		return nil, &oauthError{OAuthInvalidRequest, "the provider sent no code"}
	}
	ext, err := p.exchange(ctx, s.callbackURL(provider), in.Code, st.Verifier, st.Nonce)
	if err != nil {
		if errors.Is(err, errProvider) {
			s.log.WarnContext(ctx, "oauth exchange", "provider", provider, "err", err)
			return nil, &oauthError{OAuthProviderError, "the provider could not confirm the sign-in; try again"}
		}
		return nil, err
	}
	if st.LinkUserID != "" {
		if err := s.linkIdentity(ctx, st.LinkUserID, ext); err != nil {
			return nil, err
		}
		return &oauthResult{"linked", provider}, nil
	}
	u, err := s.userForIdentity(ctx, ext)
	if err != nil {
		return nil, err
	}
	loginCode := newSecret()
	if err := s.kv.Put(ctx, kv.PutParams{Namespace: loginCodeNamespace, Key: hashSecret(loginCode), Value: loginGrant{u.ID, provider, st.AppChallenge}.encode(), TTL: loginCodeTTL}); err != nil {
		return nil, err
	}
	return &oauthResult{"code", loginCode}, nil
}

// userForIdentity finds or creates the account an external identity signs
// in to. An existing account is linked only when the provider vouches for
// the email and the account has verified it; otherwise its owner must sign
// in and link explicitly.
func (s *Service) userForIdentity(ctx context.Context, ext *externalIdentity) (*User, error) {
	now := s.now().UTC()
	var existing Identity
	err := s.db.W.NewSelect().Model(&existing).Where("provider = ? AND subject = ?", ext.Provider, ext.Subject).Scan(ctx)
	if err == nil {
		u, err := s.store.userByID(ctx, s.db.W, existing.UserID)
		if err != nil {
			return nil, err
		}
		if !u.Active {
			return nil, &oauthError{OAuthAccessDenied, "this account is deactivated"}
		}
		return u, s.saveProviderTokens(ctx, &existing, ext, now)
	}
	if !db.IsNoRows(err) {
		return nil, err
	}
	if ext.Email == "" {
		return nil, &oauthError{OAuthEmailRequired, "the provider did not share an email address"}
	}
	if _, err := normalizeEmail(ext.Email); err != nil {
		return nil, &oauthError{OAuthEmailRequired, "the provider's email address is not usable"}
	}
	u, err := s.store.userByEmail(ctx, ext.Email)
	switch {
	case err == nil:
		if !ext.EmailVerified {
			return nil, errLinkRequired(ext.Provider)
		}
		// The local address must be proven too: otherwise whoever registered
		// it first (without reading that inbox) would receive the owner's
		// identity, and with it the owner's sign-ins (finding 6).
		if u.EmailVerifiedAt == nil {
			return nil, errLinkRequired(ext.Provider)
		}
		if !u.Active {
			return nil, &oauthError{OAuthAccessDenied, "this account is deactivated"}
		}
		return u, s.linkIdentity(ctx, u.ID, ext)
	case !apperr.Is(err, apperr.NotFound):
		return nil, err
	}
	u = &User{ID: ids.New(), Email: ext.Email, Name: truncate(ext.Name, 200), Timezone: "UTC", Locale: "en", Role: authn.RoleUser, Active: true, CreatedAt: now, UpdatedAt: now}
	if ext.EmailVerified {
		u.EmailVerifiedAt = &now
	}
	if strings.HasPrefix(ext.AvatarURL, "https://") && len(ext.AvatarURL) <= 2048 {
		u.AvatarURL = ext.AvatarURL
	}
	err = s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := s.store.createUser(ctx, tx, u); err != nil {
			return err
		}
		if err := s.insertIdentity(ctx, tx, u.ID, ext, now); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "user.register", ActorID: u.ID, SubjectID: u.ID, Details: map[string]any{"provider": ext.Provider}})
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (s *Service) insertIdentity(ctx context.Context, idb bun.IDB, userID string, ext *externalIdentity, now time.Time) error {
	id := &Identity{ID: ids.New(), UserID: userID, Provider: ext.Provider, Subject: ext.Subject, Email: ext.Email, CreatedAt: now, LastLoginAt: now}
	if err := s.encryptProviderTokens(id, ext); err != nil {
		return err
	}
	if _, err := idb.NewInsert().Model(id).Exec(ctx); err != nil {
		if db.IsUniqueViolation(err) {
			return &oauthError{OAuthIdentityTaken, "this " + ext.Provider + " account is already linked to another account"}
		}
		return err
	}
	return nil
}

func (s *Service) linkIdentity(ctx context.Context, userID string, ext *externalIdentity) error {
	return s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var existing Identity
		err := tx.NewSelect().Model(&existing).Where("provider = ? AND subject = ?", ext.Provider, ext.Subject).Scan(ctx)
		if err == nil {
			if existing.UserID != userID {
				return &oauthError{OAuthIdentityTaken, "this " + ext.Provider + " account is already linked to another account"}
			}
			return nil
		}
		if !db.IsNoRows(err) {
			return err
		}
		if err := s.insertIdentity(ctx, tx, userID, ext, s.now().UTC()); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "identity.link", ActorID: userID, SubjectID: userID, Details: map[string]any{"provider": ext.Provider}})
	})
}

func (s *Service) encryptProviderTokens(id *Identity, ext *externalIdentity) error {
	var err error
	if ext.AccessToken != "" {
		if id.AccessTokenEnc, err = s.vault.Encrypt([]byte(ext.AccessToken), "identity_access:"+id.ID); err != nil {
			return err
		}
	}
	if ext.RefreshToken != "" {
		if id.RefreshTokenEnc, err = s.vault.Encrypt([]byte(ext.RefreshToken), "identity_refresh:"+id.ID); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) saveProviderTokens(ctx context.Context, id *Identity, ext *externalIdentity, now time.Time) error {
	if err := s.encryptProviderTokens(id, ext); err != nil {
		return err
	}
	id.LastLoginAt, id.Email = now, ext.Email
	_, err := s.db.W.NewUpdate().Model(id).Column("access_token_enc", "refresh_token_enc", "last_login_at", "email").WherePK().Exec(ctx)
	return err
}

var errBadLoginCode = apperr.New(apperr.Unauthenticated, "invalid or expired code")

// loginGrant is what a login code stands for: the account, the provider it
// signed in with, and the app's PKCE challenge ("" when it sent none).
// Stored as space-separated fields (none holds a space), so a code issued
// before challenges existed still reads as one without.
type loginGrant struct{ userID, provider, challenge string }

func (g loginGrant) encode() []byte {
	v := g.userID + " " + g.provider
	if g.challenge != "" {
		v += " " + g.challenge
	}
	return []byte(v)
}

func decodeLoginGrant(v []byte) loginGrant {
	f := strings.SplitN(string(v), " ", 3)
	for len(f) < 3 {
		f = append(f, "")
	}
	return loginGrant{f[0], f[1], f[2]}
}

// LoginCodeExchange is a grant_type=authorization_code request.
type LoginCodeExchange struct {
	Code string
	// CodeVerifier is the app's PKCE verifier: required when the sign-in
	// was started with a code_challenge, refused when it was not.
	CodeVerifier string
}

// ExchangeLoginCode turns the one-time code from an OAuth callback into
// tokens (grant_type=authorization_code). A code whose sign-in carried the
// app's code_challenge is exchanged only with the matching code_verifier.
// A code refused for its verifier is used up all the same (RFC 6749 4.1.2:
// single use), so a guess gets one try.
func (s *Service) ExchangeLoginCode(ctx context.Context, in LoginCodeExchange) (*Tokens, error) {
	if err := s.limit(ctx, "login:ip:"+clientBucket(ctx), s.cfg.Limits.LoginPerIP, 1); err != nil {
		return nil, err
	}
	if in.Code == "" || len(in.Code) > 200 {
		return nil, errBadLoginCode
	}
	if err := validCodeVerifier(in.CodeVerifier); err != nil {
		return nil, err
	}
	v, err := s.kv.Take(ctx, loginCodeNamespace, hashSecret(in.Code))
	if apperr.Is(err, apperr.NotFound) {
		return nil, errBadLoginCode
	}
	if err != nil {
		return nil, err
	}
	g := decodeLoginGrant(v)
	if err := checkCodeVerifier(g.challenge, in.CodeVerifier); err != nil {
		_ = s.audit.Record(ctx, audit.Event{Action: "auth.oauth_login", Outcome: audit.Failure, SubjectID: g.userID,
			Details: map[string]any{"provider": g.provider, "error": "invalid_grant", "pkce": g.challenge != ""}})
		return nil, err
	}
	userID, provider := g.userID, g.provider
	u, err := s.store.userByID(ctx, s.db.W, userID)
	if err != nil || !u.Active {
		return nil, errBadLoginCode
	}
	if on, err := s.mfaEnabled(ctx, u.ID); err != nil {
		return nil, err
	} else if on {
		return nil, s.mfaChallenge(ctx, u)
	}
	return s.startSession(ctx, u, "aal1", provider)
}

// Identities lists the caller's linked providers.
func (s *Service) Identities(ctx context.Context) ([]Identity, error) {
	p, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, err
	}
	var out []Identity
	err = s.db.R.NewSelect().Model(&out).Where("user_id = ?", p.UserID).Order("created_at").Scan(ctx)
	return out, err
}

// UnlinkIdentity removes a linked provider, unless it is the account's
// last way to sign in.
func (s *Service) UnlinkIdentity(ctx context.Context, id string) error {
	p, err := s.requireSession(ctx)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		var ident Identity
		if err := tx.NewSelect().Model(&ident).Where("id = ? AND user_id = ?", id, p.UserID).Scan(ctx); err != nil {
			return notFoundOr(err, "identity")
		}
		u, err := s.store.userByID(ctx, tx, p.UserID)
		if err != nil {
			return err
		}
		others, err := tx.NewSelect().Model((*Identity)(nil)).Where("user_id = ? AND id <> ?", p.UserID, id).Count(ctx)
		if err != nil {
			return err
		}
		if others == 0 && u.PasswordHash == nil {
			return apperr.New(apperr.Conflict, "this is your only way to sign in: set a password or link another provider first")
		}
		if _, err := tx.NewDelete().Model((*Identity)(nil)).Where("id = ?", id).Exec(ctx); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "identity.unlink", ActorID: p.UserID, SubjectID: p.UserID, Details: map[string]any{"provider": ident.Provider}})
	})
}

// rewrapIdentities re-encrypts stored provider tokens made under an older
// vault key.
func (s *Service) rewrapIdentities(ctx context.Context) (int, error) {
	var rows []Identity
	if err := s.db.W.NewSelect().Model(&rows).Scan(ctx); err != nil {
		return 0, err
	}
	n := 0
	for i := range rows {
		r := &rows[i]
		var a, b bool
		var err error
		if r.AccessTokenEnc, a, err = s.vault.Rewrap(ctx, r.AccessTokenEnc, "identity_access:"+r.ID); err != nil {
			return n, err
		}
		if r.RefreshTokenEnc, b, err = s.vault.Rewrap(ctx, r.RefreshTokenEnc, "identity_refresh:"+r.ID); err != nil {
			return n, err
		}
		if !a && !b {
			continue
		}
		if _, err := s.db.W.NewUpdate().Model(r).Column("access_token_enc", "refresh_token_enc").WherePK().Exec(ctx); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
