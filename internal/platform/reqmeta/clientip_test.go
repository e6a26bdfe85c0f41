package reqmeta_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/reqmeta"
)

// The proxies of the table: a load balancer network and one IPv6 proxy.
var proxies = reqmeta.TrustedProxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}

func TestFinding9ClientIPBehindTrustedProxies(t *testing.T) {
	t.Parallel()
	const proxy = "10.0.0.2:5555"
	for _, tc := range []struct {
		name      string
		trusted   reqmeta.TrustedProxies
		peer      string
		xff       []string // X-Forwarded-For lines
		forwarded []string // Forwarded lines
		want      string
	}{
		// No trust configured: the headers mean nothing.
		{name: "no proxies trusted: peer", trusted: reqmeta.TrustedProxies{}, peer: "192.0.2.9:1234", xff: []string{"198.51.100.1"}, want: "192.0.2.9"},
		{name: "untrusted peer's XFF ignored", peer: "192.0.2.9:1234", xff: []string{"198.51.100.1"}, want: "192.0.2.9"},
		{name: "untrusted peer's Forwarded ignored", peer: "192.0.2.9:1234", forwarded: []string{"for=198.51.100.1"}, want: "192.0.2.9"},
		{name: "peer IPv6 untrusted", peer: "[2001:db8::7]:443", xff: []string{"198.51.100.1"}, want: "2001:db8::7"},
		{name: "peer without port", peer: "192.0.2.9", want: "192.0.2.9"},
		{name: "unreadable peer kept as is", peer: "pipe", want: "pipe"},
		{name: "trusted peer, no header", peer: proxy, want: "10.0.0.2"},

		// X-Forwarded-For from a trusted proxy.
		{name: "xff one hop", peer: proxy, xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{name: "xff right-most untrusted wins over a spoofed left", peer: proxy, xff: []string{"6.6.6.6, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "xff skips trusted hops from the right", peer: proxy, xff: []string{"6.6.6.6, 198.51.100.1, 10.1.1.1, 10.2.2.2"}, want: "198.51.100.1"},
		{name: "xff over several header lines", peer: proxy, xff: []string{"6.6.6.6", "198.51.100.1, 10.1.1.1"}, want: "198.51.100.1"},
		{name: "xff with a port", peer: proxy, xff: []string{"198.51.100.1:4711"}, want: "198.51.100.1"},
		{name: "xff IPv6 bare", peer: proxy, xff: []string{"2001:db8::1"}, want: "2001:db8::1"},
		{name: "xff IPv6 bracketed", peer: proxy, xff: []string{"[2001:db8::1]"}, want: "2001:db8::1"},
		{name: "xff IPv6 bracketed with port", peer: proxy, xff: []string{"[2001:db8::1]:4711"}, want: "2001:db8::1"},
		{name: "xff IPv4-mapped IPv6 unmapped", peer: proxy, xff: []string{"::ffff:198.51.100.1"}, want: "198.51.100.1"},
		{name: "xff spaces and empty elements", peer: proxy, xff: []string{" ,198.51.100.1 , "}, want: "198.51.100.1"},
		{name: "xff all trusted: left-most", peer: proxy, xff: []string{"10.9.9.9, 10.1.1.1"}, want: "10.9.9.9"},
		{name: "xff IPv6 trusted proxy skipped", peer: "[2001:db8:ffff::1]:80", xff: []string{"198.51.100.1, 2001:db8:ffff::2"}, want: "198.51.100.1"},
		{name: "xff garbage right-most: peer", peer: proxy, xff: []string{"198.51.100.1, garbage"}, want: "10.0.0.2"},
		{name: "xff garbage left of the client is never read", peer: proxy, xff: []string{"garbage, 198.51.100.1"}, want: "198.51.100.1"},
		{name: "xff host name: peer", peer: proxy, xff: []string{"client.example.com"}, want: "10.0.0.2"},
		{name: "xff zoned: peer", peer: proxy, xff: []string{"fe80::1%eth0"}, want: "10.0.0.2"},
		{name: "xff octal-looking IPv4: peer", peer: proxy, xff: []string{"0177.0.0.1"}, want: "10.0.0.2"},
		{name: "xff short IPv4: peer", peer: proxy, xff: []string{"127.1"}, want: "10.0.0.2"},
		{name: "xff bad port: peer", peer: proxy, xff: []string{"198.51.100.1:99999"}, want: "10.0.0.2"},
		{name: "xff empty port: peer", peer: proxy, xff: []string{"198.51.100.1:"}, want: "10.0.0.2"},
		{name: "xff unclosed bracket: peer", peer: proxy, xff: []string{"[2001:db8::1"}, want: "10.0.0.2"},
		{name: "xff IPv4 in brackets: peer", peer: proxy, xff: []string{"[198.51.100.1]"}, want: "10.0.0.2"},
		{name: "xff only commas: peer", peer: proxy, xff: []string{",,,"}, want: "10.0.0.2"},
		{name: "xff padded past the hop limit: peer", peer: proxy, xff: []string{"198.51.100.1," + strings.Repeat("10.1.1.1,", 40)}, want: "10.0.0.2"},

		// Forwarded (RFC 7239) from a trusted proxy.
		{name: "forwarded token", peer: proxy, forwarded: []string{"for=198.51.100.1"}, want: "198.51.100.1"},
		{name: "forwarded name in any case", peer: proxy, forwarded: []string{"For=198.51.100.1"}, want: "198.51.100.1"},
		{name: "forwarded quoted", peer: proxy, forwarded: []string{`for="198.51.100.1"`}, want: "198.51.100.1"},
		{name: "forwarded quoted with port", peer: proxy, forwarded: []string{`for="198.51.100.1:4711"`}, want: "198.51.100.1"},
		{name: "forwarded IPv6 quoted with port", peer: proxy, forwarded: []string{`for="[2001:db8::1]:4711"`}, want: "2001:db8::1"},
		{name: "forwarded IPv6 quoted", peer: proxy, forwarded: []string{`for="[2001:db8::1]"`}, want: "2001:db8::1"},
		{name: "forwarded obfuscated port", peer: proxy, forwarded: []string{`for="198.51.100.1:_p9"`}, want: "198.51.100.1"},
		{name: "forwarded with other pairs", peer: proxy, forwarded: []string{"proto=https;for=198.51.100.1;by=10.0.0.2;host=api.example.com"}, want: "198.51.100.1"},
		{name: "forwarded right-most untrusted", peer: proxy, forwarded: []string{"for=6.6.6.6, for=198.51.100.1;proto=https, for=10.1.1.1"}, want: "198.51.100.1"},
		{name: "forwarded over several lines", peer: proxy, forwarded: []string{"for=6.6.6.6", "for=198.51.100.1"}, want: "198.51.100.1"},
		{name: "forwarded comma inside quotes", peer: proxy, forwarded: []string{`for=6.6.6.6;host="a,b", for=198.51.100.1`}, want: "198.51.100.1"},
		{name: "forwarded escaped quote", peer: proxy, forwarded: []string{`for=198.51.100.1;x="a\"b"`}, want: "198.51.100.1"},
		{name: "forwarded unknown: peer", peer: proxy, forwarded: []string{"for=unknown"}, want: "10.0.0.2"},
		{name: "forwarded obfuscated node: peer", peer: proxy, forwarded: []string{"for=_hidden"}, want: "10.0.0.2"},
		{name: "forwarded element without for: peer", peer: proxy, forwarded: []string{"proto=https;by=10.0.0.2"}, want: "10.0.0.2"},
		{name: "forwarded broken quote: peer", peer: proxy, forwarded: []string{`for="198.51.100.1`}, want: "10.0.0.2"},
		{name: "forwarded garbage: peer", peer: proxy, forwarded: []string{"=;=,;"}, want: "10.0.0.2"},
		{name: "forwarded unquoted IPv6 bracket port", peer: proxy, forwarded: []string{"for=[2001:db8::1]:80"}, want: "2001:db8::1"},

		// Both headers: only when they agree.
		{name: "both agree", peer: proxy, xff: []string{"198.51.100.1"}, forwarded: []string{"for=198.51.100.1"}, want: "198.51.100.1"},
		{name: "both disagree: one is forged, peer", peer: proxy, xff: []string{"198.51.100.1"}, forwarded: []string{"for=6.6.6.6"}, want: "10.0.0.2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for _, v := range tc.xff {
				h.Add("X-Forwarded-For", v)
			}
			for _, v := range tc.forwarded {
				h.Add("Forwarded", v)
			}
			trusted := proxies
			if tc.trusted != nil {
				trusted = tc.trusted
			}
			require.Equal(t, tc.want, trusted.ClientIP(tc.peer, h))
		})
	}
}
