package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/audit"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/platform/kv"
	"github.com/pulse-run/pulse/internal/platform/ratelimit"
)

type totpRow struct {
	bun.BaseModel `bun:"table:auth_mfa_totp"`

	UserID      string     `bun:"user_id,pk"`
	SecretEnc   string     `bun:"secret_enc,notnull"`
	ConfirmedAt *time.Time `bun:"confirmed_at"`
	LastStep    int64      `bun:"last_step,notnull"`
	CreatedAt   time.Time  `bun:"created_at,notnull"`
}

type recoveryCode struct {
	bun.BaseModel `bun:"table:auth_recovery_codes"`

	ID       string     `bun:"id,pk"`
	UserID   string     `bun:"user_id,notnull"`
	CodeHash string     `bun:"code_hash,notnull"`
	UsedAt   *time.Time `bun:"used_at"`
}

const (
	challengeNamespace = "auth.mfa"
	challengeTTL       = 5 * time.Minute
	totpPeriod         = 30
	recoveryCodeCount  = 10
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// mfaAttempts bounds guesses per challenge and per account.
var mfaAttempts = ratelimit.Limit{Rate: 5, Period: 5 * time.Minute, Burst: 5}

// TOTPEnrollment is what an authenticator app needs.
type TOTPEnrollment struct {
	Secret     string `json:"secret" doc:"base32 secret, for manual entry"`
	OTPAuthURL string `json:"otpauth_url" doc:"otpauth:// URI, to show as a QR code"`
}

// EnrollTOTP starts TOTP enrolment for the signed-in user. Nothing changes
// at sign-in until ConfirmTOTP proves the app has the secret.
func (s *Service) EnrollTOTP(ctx context.Context) (*TOTPEnrollment, error) {
	p, err := s.requireSession(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.store.userByID(ctx, s.db.W, p.UserID)
	if err != nil {
		return nil, err
	}
	existing, err := s.totpOf(ctx, s.db.W, u.ID)
	if err != nil && !apperr.Is(err, apperr.NotFound) {
		return nil, err
	}
	if err == nil && existing.ConfirmedAt != nil {
		return nil, apperr.New(apperr.Conflict, "TOTP is already enabled; disable it first to enrol a new device")
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "Pulse", AccountName: u.Email, Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, err
	}
	enc, err := s.vault.Encrypt([]byte(key.Secret()), "totp:"+u.ID)
	if err != nil {
		return nil, err
	}
	row := &totpRow{UserID: u.ID, SecretEnc: enc, CreatedAt: s.now().UTC()}
	_, err = s.db.W.NewInsert().Model(row).On("CONFLICT (user_id) DO UPDATE").
		Set("secret_enc = EXCLUDED.secret_enc, confirmed_at = NULL, last_step = 0, created_at = EXCLUDED.created_at").Exec(ctx)
	if err != nil {
		return nil, err
	}
	return &TOTPEnrollment{Secret: key.Secret(), OTPAuthURL: key.URL()}, nil
}

// ConfirmTOTP enables TOTP with a first valid code and returns the recovery
// codes, shown this once.
func (s *Service) ConfirmTOTP(ctx context.Context, code string) ([]string, error) {
	p, err := s.requireSession(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.limit(ctx, "mfa:user:"+p.UserID, mfaAttempts, 1); err != nil {
		return nil, err
	}
	row, err := s.totpOf(ctx, s.db.W, p.UserID)
	if apperr.Is(err, apperr.NotFound) || (err == nil && row.ConfirmedAt != nil) {
		return nil, apperr.New(apperr.Conflict, "start enrolment first (POST /auth/mfa/totp)")
	}
	if err != nil {
		return nil, err
	}
	codes := make([]string, recoveryCodeCount)
	err = s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := s.checkTOTP(ctx, tx, row, code); err != nil {
			return err
		}
		now := s.now().UTC()
		if _, err := tx.NewUpdate().Model((*totpRow)(nil)).Set("confirmed_at = ?", now).Where("user_id = ?", row.UserID).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*recoveryCode)(nil)).Where("user_id = ?", row.UserID).Exec(ctx); err != nil {
			return err
		}
		for i := range codes {
			codes[i] = newRecoveryCode()
			rc := &recoveryCode{ID: ids.New(), UserID: row.UserID, CodeHash: hashSecret(normalizeRecovery(codes[i]))}
			if _, err := tx.NewInsert().Model(rc).Exec(ctx); err != nil {
				return err
			}
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "mfa.enable", ActorID: row.UserID, SubjectID: row.UserID, Details: map[string]any{"factor": "totp"}})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// DisableTOTP turns TOTP off; it takes a current code or a recovery code.
func (s *Service) DisableTOTP(ctx context.Context, code string) error {
	p, err := s.requireSession(ctx)
	if err != nil {
		return err
	}
	if err := s.limit(ctx, "mfa:user:"+p.UserID, mfaAttempts, 1); err != nil {
		return err
	}
	row, err := s.totpOf(ctx, s.db.W, p.UserID)
	if err != nil || row.ConfirmedAt == nil {
		return apperr.New(apperr.NotFound, "TOTP is not enabled")
	}
	// A stolen session must not get unlimited guesses either: the same
	// per-account count as sign-in.
	if _, err := s.reserveMFAGuess(ctx, p.UserID); err != nil {
		return err
	}
	return s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := s.checkSecondFactor(ctx, tx, row, code); err != nil {
			return err
		}
		if err := s.store.clearMFAFailures(ctx, tx, row.UserID); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*totpRow)(nil)).Where("user_id = ?", row.UserID).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model((*recoveryCode)(nil)).Where("user_id = ?", row.UserID).Exec(ctx); err != nil {
			return err
		}
		return s.audit.RecordTx(ctx, tx, audit.Event{Action: "mfa.disable", ActorID: row.UserID, SubjectID: row.UserID, Details: map[string]any{"factor": "totp"}})
	})
}

// mfaChallenge is returned instead of tokens when the account has MFA.
func (s *Service) mfaChallenge(ctx context.Context, u *User) error {
	token := newSecret()
	if err := s.kv.Put(ctx, kv.PutParams{Namespace: challengeNamespace, Key: hashSecret(token), Value: []byte(u.ID), TTL: challengeTTL}); err != nil {
		return err
	}
	if err := s.audit.Record(ctx, audit.Event{Action: "auth.mfa_challenge", ActorID: u.ID, SubjectID: u.ID}); err != nil {
		return err
	}
	e := apperr.New(apperr.Unauthenticated, "a second factor is required: POST the code with this mfa_token to /api/v1/auth/mfa/verify")
	e.Extensions = map[string]any{"error": "mfa_required", "mfa_token": token, "expires_in": int(challengeTTL.Seconds())}
	return e
}

var errBadChallenge = apperr.New(apperr.Unauthenticated, "invalid or expired MFA challenge")

// VerifyMFA completes a password sign-in with a TOTP or recovery code and
// returns tokens at assurance level aal2.
func (s *Service) VerifyMFA(ctx context.Context, challenge, code string) (*Tokens, error) {
	if err := s.limit(ctx, "mfa:ip:"+clientBucket(ctx), s.cfg.Limits.LoginPerIP, 1); err != nil {
		return nil, err
	}
	if challenge == "" || len(challenge) > 200 {
		return nil, errBadChallenge
	}
	key := hashSecret(challenge)
	if err := s.limit(ctx, "mfa:challenge:"+key, mfaAttempts, 1); err != nil {
		return nil, err
	}
	v, err := s.kv.Get(ctx, challengeNamespace, key)
	if apperr.Is(err, apperr.NotFound) {
		return nil, errBadChallenge
	}
	if err != nil {
		return nil, err
	}
	u, err := s.store.userByID(ctx, s.db.W, string(v))
	if err != nil || !u.Active {
		return nil, errBadChallenge
	}
	row, err := s.totpOf(ctx, s.db.W, u.ID)
	if err != nil || row.ConfirmedAt == nil {
		return nil, errBadChallenge
	}
	n, err := s.reserveMFAGuess(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	err = s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		if err := s.checkSecondFactor(ctx, tx, row, code); err != nil {
			return err
		}
		if _, err := s.kv.With(tx).Take(ctx, challengeNamespace, key); err != nil {
			return errBadChallenge // used by a concurrent request
		}
		return s.store.clearMFAFailures(ctx, tx, u.ID)
	})
	if err != nil {
		if apperr.Is(err, apperr.Invalid) {
			_ = s.audit.Record(ctx, audit.Event{Action: "auth.mfa_verify", Outcome: audit.Failure, SubjectID: u.ID})
			s.mfaGuessFailed(ctx, u, n)
		}
		return nil, err
	}
	return s.startSession(ctx, u, "aal2", "password+totp")
}

var errBadCode = apperr.InvalidField("body.code", "is not a valid code")

// checkSecondFactor accepts a TOTP code or an unused recovery code.
func (s *Service) checkSecondFactor(ctx context.Context, tx *db.Tx, row *totpRow, code string) error {
	code = strings.TrimSpace(code)
	if len(code) == 6 {
		return s.checkTOTP(ctx, tx, row, code)
	}
	if len(code) > 32 {
		return errBadCode
	}
	res, err := tx.NewUpdate().Model((*recoveryCode)(nil)).Set("used_at = ?", s.now().UTC()).
		Where("user_id = ? AND code_hash = ? AND used_at IS NULL", row.UserID, hashSecret(normalizeRecovery(code))).Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errBadCode
	}
	return s.audit.RecordTx(ctx, tx, audit.Event{Action: "mfa.recovery_code_used", ActorID: row.UserID, SubjectID: row.UserID})
}

// checkTOTP accepts the code of the current 30 s step or either neighbour
// (clock drift), and never a step at or before the last one accepted: a
// code works once.
func (s *Service) checkTOTP(ctx context.Context, tx *db.Tx, row *totpRow, code string) error {
	secret, err := s.vault.Decrypt(ctx, row.SecretEnc, "totp:"+row.UserID)
	if err != nil {
		return err
	}
	now := s.now()
	step := now.Unix() / totpPeriod
	for _, d := range []int64{0, -1, 1} {
		st := step + d
		want, err := totp.GenerateCodeCustom(string(secret), time.Unix(st*totpPeriod, 0), totpOpts)
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		res, err := tx.NewUpdate().Model((*totpRow)(nil)).Set("last_step = ?", st).
			Where("user_id = ? AND last_step < ?", row.UserID, st).Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.InvalidField("body.code", "was already used; wait for the next code")
		}
		return nil
	}
	return errBadCode
}

func (s *Service) totpOf(ctx context.Context, idb bun.IDB, userID string) (*totpRow, error) {
	row := &totpRow{}
	err := idb.NewSelect().Model(row).Where("user_id = ?", userID).Scan(ctx)
	return row, notFoundOr(err, "TOTP factor")
}

func (s *Service) mfaEnabled(ctx context.Context, userID string) (bool, error) {
	n, err := s.db.W.NewSelect().Model((*totpRow)(nil)).Where("user_id = ? AND confirmed_at IS NOT NULL", userID).Count(ctx)
	return n > 0, err
}

func (s *Service) requireSession(ctx context.Context) (*authn.Principal, error) {
	p, err := authn.Require(ctx)
	if err != nil {
		return nil, err
	}
	if !p.IsSession() {
		return nil, apperr.New(apperr.PermissionDenied, "this needs a signed-in session, not an API key")
	}
	return p, nil
}

func newRecoveryCode() string {
	b := make([]byte, 7)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	s := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:10]
	return s[:5] + "-" + s[5:]
}

func normalizeRecovery(code string) string {
	return strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(code))
}

// rewrapTOTP re-encrypts TOTP secrets made under an older vault key.
func (s *Service) rewrapTOTP(ctx context.Context) (int, error) {
	var rows []totpRow
	if err := s.db.W.NewSelect().Model(&rows).Scan(ctx); err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rows {
		enc, changed, err := s.vault.Rewrap(ctx, r.SecretEnc, "totp:"+r.UserID)
		if err != nil {
			return n, err
		}
		if !changed {
			continue
		}
		if _, err := s.db.W.NewUpdate().Model((*totpRow)(nil)).Set("secret_enc = ?", enc).Where("user_id = ?", r.UserID).Exec(ctx); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
