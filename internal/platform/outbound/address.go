package outbound

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrRefused is a destination the policy does not let a call reach.
var ErrRefused = errors.New("address is not public")

type rangeReason struct {
	prefix netip.Prefix
	reason string
}

func ranges(pairs ...string) []rangeReason {
	out := make([]rangeReason, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, rangeReason{netip.MustParsePrefix(pairs[i]), pairs[i+1]})
	}
	return out
}

// refused4 are IPv4 ranges that are not the public internet. The
// documentation and benchmarking ranges are never routed publicly: an
// answer from one means a network path someone rigged, so they are refused
// like private space.
var refused4 = ranges(
	"0.0.0.0/8", "unspecified",
	"10.0.0.0/8", "private",
	"100.64.0.0/10", "shared address space (CGNAT)",
	"127.0.0.0/8", "loopback",
	"169.254.0.0/16", "link-local",
	"172.16.0.0/12", "private",
	"192.0.0.0/24", "IETF protocol assignments",
	"192.0.2.0/24", "documentation",
	"192.88.99.0/24", "6to4 relay",
	"192.168.0.0/16", "private",
	"198.18.0.0/15", "benchmarking",
	"198.51.100.0/24", "documentation",
	"203.0.113.0/24", "documentation",
	"224.0.0.0/4", "multicast",
	"240.0.0.0/4", "reserved",
)

// refused6 are IPv6 ranges inside or outside 2000::/3 that are not the
// public internet. Everything outside 2000::/3 is refused anyway (it holds
// ::, ::1, IPv4-compatible ::a.b.c.d, NAT64, ULA, link- and site-local and
// multicast); the entries below give the reason a clear name.
//
// The prefixes that embed an IPv4 address (NAT64 64:ff9b::/96 and
// 64:ff9b:1::/48, 6to4 2002::/16, Teredo 2001::/32) are refused whole:
// through a gateway they reach the embedded IPv4 address, which may be
// private, and public services are reachable by their real addresses.
// Documentation ranges (2001:db8::/32, 3fff::/20) are never routed
// publicly, like their IPv4 siblings.
var refused6 = ranges(
	"::/128", "unspecified",
	"::1/128", "loopback",
	"::ffff:0:0:0/96", "IPv4-translated",
	"::/96", "IPv4-compatible",
	"64:ff9b::/96", "NAT64",
	"64:ff9b:1::/48", "NAT64",
	"100::/64", "discard-only",
	"2001::/32", "Teredo",
	"2001:2::/48", "benchmarking",
	"2001:10::/28", "ORCHID",
	"2001:20::/28", "ORCHID",
	"2001:db8::/32", "documentation",
	"2002::/16", "6to4",
	"3fff::/20", "documentation",
	"fc00::/7", "unique local (ULA)",
	"fe80::/10", "link-local",
	"fec0::/10", "site-local",
	"ff00::/8", "multicast",
)

var global6 = netip.MustParsePrefix("2000::/3")

// metadata are cloud instance-metadata endpoints: AWS/GCP/Azure IMDS, AWS
// IMDS over IPv6, and Azure's wireserver. 168.63.129.16 sits in public
// address space, so only this list keeps it out. These stay refused even
// when an allowed prefix or host covers them; only the exact address in
// PULSE_OUTBOUND_ALLOW admits one, because reaching it hands out the
// machine's credentials.
var metadata = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true,
	netip.MustParseAddr("fd00:ec2::254"):   true,
	netip.MustParseAddr("168.63.129.16"):   true,
}

// embeds4 are the IPv6 forms that carry an IPv4 address a gateway or
// tunnel delivers to (IPv4-compatible, SIIT-translated, NAT64's
// well-known prefix, 6to4), with the byte where it starts. A metadata
// address in one of them is still the metadata address.
var embeds4 = []struct {
	prefix netip.Prefix
	at     int
}{
	{netip.MustParsePrefix("::/96"), 12},
	{netip.MustParsePrefix("::ffff:0:0:0/96"), 12},
	{netip.MustParsePrefix("64:ff9b::/96"), 12},
	{netip.MustParsePrefix("2002::/16"), 2},
}

// isMetadata reports whether a (unmapped, no zone) is a metadata endpoint,
// directly or embedded in an IPv6 form, so that no allowed prefix that
// covers the form (64:ff9b::/96 on an IPv6-only network) admits it.
func isMetadata(a netip.Addr) bool {
	if metadata[a] {
		return true
	}
	if !a.Is6() {
		return false
	}
	b := a.As16()
	for _, e := range embeds4 {
		if e.prefix.Contains(a) && metadata[netip.AddrFrom4([4]byte(b[e.at:e.at+4]))] {
			return true
		}
	}
	return false
}

// nonPublic says why a is not a public internet address, or "" when it is.
// a has no zone. IPv4-mapped addresses are judged by their IPv4 address.
func nonPublic(a netip.Addr) string {
	a = a.Unmap()
	if a.Is4() {
		for _, r := range refused4 {
			if r.prefix.Contains(a) {
				return r.reason
			}
		}
		if !a.IsGlobalUnicast() {
			return "reserved"
		}
		return ""
	}
	for _, r := range refused6 {
		if r.prefix.Contains(a) {
			return r.reason
		}
	}
	if !global6.Contains(a) {
		return "reserved"
	}
	return ""
}

// refusal is ErrRefused with the kind of address, never the address.
func refusal(reason string) error { return fmt.Errorf("%w (%s)", ErrRefused, reason) }

// check decides one resolved address. hostAllowed is true when the name
// that led to it is allow-listed.
func (p *Policy) check(a netip.Addr, hostAllowed bool) error {
	if !a.IsValid() {
		return refusal("not an IP address")
	}
	// A zone makes netip.Prefix.Contains false for every prefix and
	// IsGlobalUnicast true for fe80::%eth0, and the zone picks the
	// interface: nothing public is ever zoned.
	if a.Zone() != "" {
		return refusal("has an interface zone")
	}
	u := a.Unmap()
	if isMetadata(u) {
		if p.exactlyAllowed(u) {
			return nil
		}
		return refusal("cloud metadata")
	}
	if hostAllowed {
		return nil
	}
	for _, pfx := range p.allowPrefixes {
		if pfx.Contains(u) || pfx.Contains(a) {
			return nil
		}
	}
	if reason := nonPublic(u); reason != "" {
		return refusal(reason)
	}
	return nil
}

func (p *Policy) exactlyAllowed(a netip.Addr) bool {
	for _, pfx := range p.allowPrefixes {
		if pfx.IsSingleIP() && pfx.Addr().Unmap() == a {
			return true
		}
	}
	return false
}

// CheckAddr reports whether a call may reach a (an address, not a name).
// The error wraps ErrRefused.
func (p *Policy) CheckAddr(a netip.Addr) error { return p.check(a, false) }
