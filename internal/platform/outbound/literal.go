package outbound

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// literalIP reads host as an IP address in any spelling a resolver or a
// browser accepts: IPv6 with or without a zone, dotted IPv4, and the
// inet_aton forms (2130706433, 0177.0.0.1, 0x7f.1, 127.1).
func literalIP(host string) (netip.Addr, bool) {
	h := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(host, "["), "."), "]")
	if a, err := netip.ParseAddr(h); err == nil {
		return a, true
	}
	return parseLooseIPv4(h)
}

// parseLooseIPv4 parses IPv4 the way inet_aton does: one to four parts,
// each decimal, octal (leading 0) or hex (0x); the last part fills the
// bytes that remain. Go's resolver treats such names as DNS names, but
// getaddrinfo (cgo), curl and browsers read them as addresses.
func parseLooseIPv4(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) == 0 || len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, part := range parts {
		base := 10
		switch {
		case len(part) > 1 && (part[:2] == "0x" || part[:2] == "0X"):
			base, part = 16, part[2:]
		case len(part) > 1 && part[0] == '0':
			base, part = 8, part[1:]
		}
		if part == "" || strings.ContainsAny(part, "+-_") {
			return netip.Addr{}, false
		}
		v, err := strconv.ParseUint(part, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	n := len(vals)
	var ip uint32
	for i := 0; i < n-1; i++ {
		if vals[i] > 255 {
			return netip.Addr{}, false
		}
		ip |= uint32(vals[i]) << (24 - 8*i)
	}
	if last := vals[n-1]; last > uint64(1)<<(8*(5-n))-1 {
		return netip.Addr{}, false
	} else {
		ip |= uint32(last)
	}
	return netip.AddrFrom4([4]byte{byte(ip >> 24), byte(ip >> 16), byte(ip >> 8), byte(ip)}), true
}

func parseHTTPURL(raw string) (*url.URL, bool) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return nil, false
	}
	return u, true
}

// CheckURL is the save-time check of a URL a user gives for later calls:
// it must be http(s), carry no credentials, and its host must not be a
// name or literal address that can never be public (localhost,
// *.localhost, or an address in a refused range in any spelling). Names
// are not resolved: what they resolve to may change, and the dial-time
// check judges that. The message suits a 422 at the URL's field.
func (p *Policy) CheckURL(raw string) error {
	u, ok := parseHTTPURL(raw)
	if !ok {
		return errors.New("must be an http(s) URL with a host")
	}
	if u.User != nil {
		return errors.New("must not carry credentials (user:password@)")
	}
	return p.checkHost(u.Hostname())
}

// checkHost refuses a host that can only lead inside.
func (p *Policy) checkHost(host string) error {
	h := normalHost(host)
	if p.hostAllowed(h) {
		return nil
	}
	if a, ok := literalIP(h); ok {
		if err := p.check(a, false); err != nil {
			return fmt.Errorf("must reach a public address: %q is not one (%s)", host, reasonOf(err))
		}
		return nil
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return fmt.Errorf("must reach a public address: %q is this machine", host)
	}
	return nil
}

func reasonOf(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, "("); i >= 0 {
		return strings.TrimSuffix(s[i+1:], ")")
	}
	return s
}
