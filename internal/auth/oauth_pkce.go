package auth

import (
	"crypto/subtle"
	"encoding/base64"

	"golang.org/x/oauth2"

	"github.com/pulse-run/pulse/internal/platform/apperr"
)

// App-side PKCE (RFC 7636) binds the one-time login code to the app that
// started the sign-in, the way Supabase Auth's PKCE flow does. The binding
// cookie proves the provider's callback reached the browser that started
// the flow; it says nothing about who later exchanges the login code the
// callback hands to the app. Without PKCE an attacker finishes their own
// sign-in, keeps the code and pushes app/...?code=X to a victim, whose app
// exchanges it and is signed in as the attacker. With PKCE only the holder
// of the verifier, kept by the app that sent the challenge, can exchange it.
//
// This is separate from the PKCE Pulse itself runs with the provider
// (oauthState.Verifier), which protects the provider's code, not ours.

// PKCEMethodS256 is the only code_challenge_method accepted: "plain" would
// put the verifier itself in the browser's URL.
const PKCEMethodS256 = "S256"

// validCodeChallenge checks an app's code_challenge and its method. A
// challenge is BASE64URL(SHA-256(verifier)) without padding: exactly 32
// bytes, 43 characters, and any other length could never match a verifier.
func validCodeChallenge(challenge, method string) error {
	if challenge == "" {
		if method != "" {
			return apperr.InvalidField("query.code_challenge", "is required with code_challenge_method")
		}
		return nil
	}
	if method != PKCEMethodS256 {
		return apperr.InvalidField("query.code_challenge_method", "must be S256 (plain is not accepted)")
	}
	if len(challenge) != 43 || !decodesTo32Bytes(challenge) {
		return apperr.InvalidField("query.code_challenge", "must be 43 characters: the unpadded base64url SHA-256 of the code_verifier")
	}
	return nil
}

func decodesTo32Bytes(s string) bool {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(raw) == 32
}

// validCodeVerifier checks RFC 7636 4.1: 43 to 128 characters of
// [A-Za-z0-9-._~]. An empty one is allowed here (no PKCE).
func validCodeVerifier(v string) error {
	if v == "" {
		return nil
	}
	if len(v) < 43 || len(v) > 128 {
		return apperr.InvalidField("body.code_verifier", "must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_', '~'")
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return apperr.InvalidField("body.code_verifier", "must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_', '~'")
		}
	}
	return nil
}

// errInvalidGrant is a login code refused for its PKCE binding: 400 with
// the OAuth error invalid_grant (RFC 6749 5.2), at body.code_verifier.
func errInvalidGrant(message string) *apperr.Error {
	return &apperr.Error{Code: apperr.BadRequest, Message: message,
		Fields:     []apperr.FieldError{{Path: "body.code_verifier", Message: message}},
		Extensions: map[string]any{"error": "invalid_grant"}}
}

// checkCodeVerifier decides whether verifier may exchange a login code
// issued with challenge ("" when the app sent none). A code issued without
// a challenge refuses a verifier: the app that sends one started a PKCE
// flow, so a code without a challenge is not from it (it may be an
// attacker's, pushed into its URL).
func checkCodeVerifier(challenge, verifier string) error {
	switch {
	case challenge == "" && verifier == "":
		return nil
	case challenge == "":
		return errInvalidGrant("this code was issued without a code_challenge, so it is not from the sign-in this app started; start again")
	case verifier == "":
		return errInvalidGrant("this code was issued with a code_challenge: send its code_verifier")
	}
	if subtle.ConstantTimeCompare([]byte(oauth2.S256ChallengeFromVerifier(verifier)), []byte(challenge)) != 1 {
		return errInvalidGrant("the code_verifier does not match the code_challenge; start again")
	}
	return nil
}
