package auth

import "strings"

// What the callback checks in the provider's parameters besides the state.

// oauthErrorToken reports whether v is a well-formed OAuth error code
// (RFC 6749 5.2: printable ASCII without '"' and '\'), short enough to show.
func oauthErrorToken(v string) bool {
	if v == "" || len(v) > 64 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// issuedBy reports whether iss (RFC 9207's callback parameter) names this
// provider's issuer. A provider without an OIDC issuer (GitHub) accepts
// any; a template issuer ({tenantid}) matches one path segment there.
func (p *Provider) issuedBy(iss string) bool {
	if p.Issuer == "" {
		return true
	}
	before, after, templ := strings.Cut(p.Issuer, "{tenantid}")
	if !templ {
		return iss == p.Issuer
	}
	if len(iss) < len(before)+len(after) || !strings.HasPrefix(iss, before) || !strings.HasSuffix(iss, after) {
		return false
	}
	tenant := iss[len(before) : len(iss)-len(after)]
	return tenant != "" && !strings.ContainsAny(tenant, "/?#")
}
