package reqmeta

import (
	"net/http"
	"net/netip"
	"strings"
)

// maxHops bounds how far left a forwarding chain is walked: no real
// deployment has more proxies than this, and a longer chain is someone
// padding the header.
const maxHops = 32

// TrustedProxies are the reverse proxies whose forwarding headers are
// believed (PULSE_TRUSTED_PROXIES). Empty: none are, and a client is its
// direct peer.
type TrustedProxies []netip.Prefix

func (t TrustedProxies) trusts(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP finds the client of a request from its direct peer (remoteAddr,
// "host:port") and its headers. X-Forwarded-For and Forwarded (RFC 7239)
// count only when the peer is a trusted proxy. Then the chain is walked from
// the right, past every trusted hop, and the first untrusted one is the
// client: hops to its left were written by the client itself and prove
// nothing. Anything unreadable on the way (garbage, "unknown", an obfuscated
// identifier, a zone) falls back to the peer. So does a request carrying both
// headers that disagree: a proxy writes one of them, and the other may be the
// client's own invention, which must not pick the address a limit counts.
func (t TrustedProxies) ClientIP(remoteAddr string, h http.Header) string {
	peer, ok := parseNode(remoteAddr)
	if !ok {
		return remoteAddr
	}
	if len(t) == 0 || !t.trusts(peer) {
		return peer.String()
	}
	fwd, xff := h.Values("Forwarded"), h.Values("X-Forwarded-For")
	var got netip.Addr
	switch {
	case len(fwd) > 0 && len(xff) > 0:
		a, okA := t.walk(forwardedFor(fwd))
		b, okB := t.walk(splitList(xff))
		if !okA || !okB || a != b {
			return peer.String()
		}
		got = a
	case len(fwd) > 0:
		if got, ok = t.walk(forwardedFor(fwd)); !ok {
			return peer.String()
		}
	case len(xff) > 0:
		if got, ok = t.walk(splitList(xff)); !ok {
			return peer.String()
		}
	default:
		return peer.String()
	}
	return got.String()
}

// walk returns the right-most untrusted hop, or the left-most one when every
// hop is trusted (a request from inside the proxies' network).
func (t TrustedProxies) walk(hops []string) (netip.Addr, bool) {
	if len(hops) == 0 {
		return netip.Addr{}, false
	}
	var last netip.Addr
	for i := len(hops) - 1; i >= 0; i-- {
		if len(hops)-i > maxHops {
			return netip.Addr{}, false
		}
		a, ok := parseNode(hops[i])
		if !ok {
			return netip.Addr{}, false
		}
		if !t.trusts(a) {
			return a, true
		}
		last = a
	}
	return last, true
}

// splitList splits comma-separated header lines into their non-empty
// elements, in order.
func splitList(lines []string) []string {
	var out []string
	for _, l := range lines {
		for _, e := range strings.Split(l, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// forwardedFor returns each Forwarded element's for= node, in order. An
// element without one (or one that cannot be read) yields "", which walk
// treats as unreadable: that hop's client is unknown.
func forwardedFor(lines []string) []string {
	var out []string
	for _, l := range lines {
		for _, elem := range splitQuoted(l, ',') {
			if strings.TrimSpace(elem) == "" {
				continue
			}
			node := ""
			for _, pair := range splitQuoted(elem, ';') {
				name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(name), "for") {
					continue
				}
				node = unquote(strings.TrimSpace(value))
				break
			}
			out = append(out, node)
		}
	}
	return out
}

// splitQuoted splits s at sep outside quoted strings.
func splitQuoted(s string, sep byte) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++ // an escaped character, whatever it is
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unquote reads an RFC 7230 quoted-string, or returns a token as it is. A
// broken quoted string gives "".
func unquote(v string) string {
	if !strings.HasPrefix(v, `"`) {
		return v
	}
	if len(v) < 2 || !strings.HasSuffix(v, `"`) {
		return ""
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		if v[i] == '\\' {
			i++
			if i >= len(v)-1 {
				return ""
			}
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// parseNode reads an address with an optional port: 192.0.2.1,
// 192.0.2.1:80, [2001:db8::1]:443, [2001:db8::1], 2001:db8::1. The port may
// be an RFC 7239 obfuscated one (_abc). Zoned addresses are refused: a zone
// means nothing off the host that wrote it. IPv4-mapped IPv6 is unmapped,
// so one client has one spelling.
func parseNode(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	host, port := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		host, port = s[1:end], s[end+1:]
		if port != "" {
			if !strings.HasPrefix(port, ":") {
				return netip.Addr{}, false
			}
			port = port[1:]
			if port == "" {
				return netip.Addr{}, false
			}
		}
		if !strings.Contains(host, ":") {
			return netip.Addr{}, false // brackets hold IPv6 only
		}
	case strings.Count(s, ":") == 1:
		host, port, _ = strings.Cut(s, ":")
		if port == "" {
			return netip.Addr{}, false
		}
	}
	if port != "" && !validPort(port) {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func validPort(p string) bool {
	if p[0] == '_' {
		for _, c := range p[1:] {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
		return len(p) > 1
	}
	if len(p) > 5 {
		return false
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}
