package outbound

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/pulse-run/pulse/internal/platform/config"
)

// Resolver looks up the addresses of a host name. *net.Resolver is one;
// tests pass a map to exercise names that resolve to any address.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options build a Policy.
type Options struct {
	// AllowHosts are host names a call may reach whatever they resolve to
	// (except cloud metadata).
	AllowHosts []string
	// AllowPrefixes are address ranges a call may reach although they are
	// not public. Only an exact single address admits a metadata endpoint.
	AllowPrefixes []netip.Prefix
	// Resolver finds the addresses of a name; nil is net.DefaultResolver.
	Resolver Resolver
}

// Policy decides which destinations outbound calls may reach. It is
// immutable and safe for concurrent use.
type Policy struct {
	allowHosts    []string
	allowPrefixes []netip.Prefix
	resolver      Resolver
}

// New returns the policy of o.
func New(o Options) *Policy {
	p := &Policy{allowPrefixes: slices.Clone(o.AllowPrefixes), resolver: o.Resolver}
	for _, h := range o.AllowHosts {
		if h = normalHost(h); h != "" {
			p.allowHosts = append(p.allowHosts, h)
		}
	}
	if p.resolver == nil {
		p.resolver = net.DefaultResolver
	}
	return p
}

// FromConfig is the policy PULSE_OUTBOUND_ALLOW sets.
func FromConfig(c *config.Config) *Policy {
	return New(Options{AllowHosts: c.OutboundAllowHosts, AllowPrefixes: c.OutboundAllowPrefixes})
}

// Public is the policy with no exceptions: public addresses only.
func Public() *Policy { return New(Options{}) }

// TrustingURLs returns a copy of p that also admits the hosts of URLs the
// operator configured (a SearXNG instance, an Ollama server): the operator
// chose them, no user can. Empty or unparsable URLs are skipped.
func (p *Policy) TrustingURLs(urls ...string) *Policy {
	q := *p
	q.allowHosts = slices.Clone(p.allowHosts)
	q.allowPrefixes = slices.Clone(p.allowPrefixes)
	for _, raw := range urls {
		u, ok := parseHTTPURL(raw)
		if !ok {
			continue
		}
		h := normalHost(u.Hostname())
		if a, ok := literalIP(h); ok {
			if a.Zone() == "" {
				q.allowPrefixes = append(q.allowPrefixes, netip.PrefixFrom(a, a.BitLen()))
			}
		} else if h != "" {
			q.allowHosts = append(q.allowHosts, h)
		}
	}
	return &q
}

func normalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
}

// hostAllowed reports whether the operator allowed this name. A literal
// address is never "allowed by name": prefixes decide those.
func (p *Policy) hostAllowed(host string) bool {
	h := normalHost(host)
	if h == "" {
		return false
	}
	if _, ok := literalIP(h); ok {
		return false
	}
	return slices.Contains(p.allowHosts, h)
}
