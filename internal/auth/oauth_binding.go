package auth

import (
	"net/http"
	"strings"
)

// The binding cookie ties an OAuth state to the browser that started the
// flow: it holds a random value whose hash the state stores, and the
// callback must bring it back. It is HttpOnly (no script reads it),
// SameSite=Lax (sent on the provider's top-level redirect back, not on
// cross-site subrequests) and lives as long as a state. Over https it is a
// __Host- cookie: Secure, for this host only, path /, so no sibling
// subdomain can plant one.
const (
	BindingCookieSecure = "__Host-pulse_oauth"
	BindingCookiePlain  = "pulse_oauth"
)

func (s *Service) secureCookies() bool { return strings.HasPrefix(s.cfg.Issuer, "https://") }

// BindingCookieName is the binding cookie's name on this server.
func (s *Service) BindingCookieName() string {
	if s.secureCookies() {
		return BindingCookieSecure
	}
	return BindingCookiePlain
}

func (s *Service) bindingCookie(value string) *http.Cookie {
	c := &http.Cookie{Name: s.BindingCookieName(), Value: value, Path: "/api/v1/auth/oauth/", MaxAge: int(stateTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if s.secureCookies() {
		c.Secure, c.Path = true, "/"
	}
	return c
}

// wellFormedSecret reports whether v looks like newSecret's output (32
// random bytes, base64url): anything else in a cookie is ignored.
func wellFormedSecret(v string) bool {
	if len(v) != 43 {
		return false
	}
	for _, c := range v {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
