package outbound_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/outbound"
)

// fakeDNS answers names from a map; anything else is not found.
type fakeDNS map[string][]netip.Addr

func (f fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

type testBundle struct {
	dns fakeDNS
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	return &testBundle{dns: fakeDNS{}}
}

func (b *testBundle) policy(o outbound.Options) *outbound.Policy {
	o.Resolver = b.dns
	return outbound.New(o)
}

// counter is a local service that must never be reached.
type counter struct {
	hits atomic.Int64
	url  string
}

func listenCounter(t *testing.T, network, addr string) *counter {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	c := &counter{}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c.hits.Add(1)
		_, _ = io.WriteString(w, "inside")
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	c.url = srv.URL
	return c
}

func port(t *testing.T, rawURL string) string {
	t.Helper()
	i := strings.LastIndex(rawURL, ":")
	return rawURL[i+1:]
}

var refusedSpellings = []struct{ name, url string }{
	{"decimal IPv4", "http://2130706433/"},
	{"octal IPv4", "http://0177.0.0.1/"},
	{"hex IPv4", "http://0x7f.1/"},
	{"hex whole IPv4", "http://0x7f000001/"},
	{"short IPv4", "http://127.1/"},
	{"trailing dot", "http://127.0.0.1./"},
	{"octal private", "http://012.0.0.5/"},
	{"unspecified IPv4", "http://0.0.0.0/"},
	{"unspecified IPv6", "http://[::]/"},
	{"loopback IPv6", "http://[::1]/"},
	{"long loopback IPv6", "http://[0:0:0:0:0:0:0:1]/"},
	{"zoned unspecified by name", "http://[::%25lo]/"},
	{"zoned unspecified by index", "http://[::%251]/"},
	{"zoned link-local", "http://[fe80::1%25eth0]/"},
	{"zoned link-local by index", "http://[fe80::1%251]/"},
	{"zoned loopback", "http://[::1%25lo]/"},
	{"zoned public", "http://[2606:4700:4700::1111%25eth0]/"},
	{"mapped loopback", "http://[::ffff:127.0.0.1]/"},
	{"mapped loopback hex", "http://[::ffff:7f00:1]/"},
	{"mapped private", "http://[::ffff:10.0.0.5]/"},
	{"compat loopback", "http://[::127.0.0.1]/"},
	{"compat private", "http://[::10.0.0.5]/"},
	{"compat public", "http://[::8.8.8.8]/"},
	{"translated", "http://[::ffff:0:10.0.0.5]/"},
	{"NAT64 private", "http://[64:ff9b::10.0.0.5]/"},
	{"NAT64 public", "http://[64:ff9b::808:808]/"},
	{"NAT64 local-use", "http://[64:ff9b:1::a00:5]/"},
	{"6to4", "http://[2002:7f00:1::1]/"},
	{"Teredo", "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/"},
	{"IPv6 documentation", "http://[2001:db8::1]/"},
	{"ULA", "http://[fd00::1]/"},
	{"ULA fc", "http://[fc00::1]/"},
	{"site-local", "http://[fec0::1]/"},
	{"link-local IPv6", "http://[fe80::1]/"},
	{"multicast IPv6", "http://[ff02::1]/"},
	{"private 10", "http://10.0.0.5/"},
	{"private 172", "http://172.16.0.1/"},
	{"private 192", "http://192.168.1.1/"},
	{"CGNAT", "http://100.64.0.1/"},
	{"link-local IPv4", "http://169.254.1.1/"},
	{"multicast IPv4", "http://224.0.0.1/"},
	{"broadcast", "http://255.255.255.255/"},
	{"IPv4 documentation", "http://192.0.2.1/"},
	{"AWS metadata", "http://169.254.169.254/latest/meta-data/"},
	{"AWS metadata decimal", "http://2852039166/"},
	{"AWS metadata mapped", "http://[::ffff:a9fe:a9fe]/"},
	{"AWS metadata IPv6", "http://[fd00:ec2::254]/"},
	{"Azure wireserver", "http://168.63.129.16/"},
	{"Azure wireserver mapped", "http://[::ffff:168.63.129.16]/"},
	{"localhost", "http://localhost:8080/"},
	{"localhost upper with dot", "http://LOCALHOST./"},
	{"sub.localhost", "http://api.localhost/"},
}

func TestCheckURLRefusesSpellingsOfInside(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.policy(outbound.Options{})
	for _, tt := range refusedSpellings {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := p.CheckURL(tt.url)
			require.Error(t, err)
			require.Contains(t, err.Error(), "public")
		})
	}
}

func TestCheckURLAdmitsPublicAndAllowed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	open := b.policy(outbound.Options{})
	for _, u := range []string{"https://example.com/x", "http://8.8.8.8/", "http://[2606:4700:4700::1111]:8443/",
		"http://[::ffff:8.8.8.8]/", "http://0x08080808/", "http://127.0.0.1.nip.io/", "https://api.openai.com/v1"} {
		require.NoError(t, open.CheckURL(u), u)
	}
	for _, u := range []string{"ftp://example.com/", "http://user:pw@example.com/", "example.com", "http:///x", "http://[::1/"} {
		require.Error(t, open.CheckURL(u), u)
	}

	allowed := b.policy(outbound.Options{AllowHosts: []string{"svc.internal", "localhost"},
		AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("169.254.0.0/16")}})
	for _, u := range []string{"http://127.0.0.1:8080/", "http://2130706433/", "http://SVC.internal./", "http://localhost:1/", "http://169.254.1.1/"} {
		require.NoError(t, allowed.CheckURL(u), u)
	}
	for _, u := range []string{"http://127.0.0.2/", "http://[::1]/", "http://api.localhost/", "http://169.254.169.254/", "http://[::%25lo]/"} {
		require.Error(t, allowed.CheckURL(u), u)
	}
}

func TestMetadataNeedsTheExactAddress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	wide := b.policy(outbound.Options{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("168.63.0.0/16"), netip.MustParsePrefix("fd00::/8")}})
	require.ErrorIs(t, wide.CheckAddr(netip.MustParseAddr("168.63.129.16")), outbound.ErrRefused)
	require.ErrorIs(t, wide.CheckAddr(netip.MustParseAddr("fd00:ec2::254")), outbound.ErrRefused)
	require.NoError(t, wide.CheckAddr(netip.MustParseAddr("168.63.1.1")))
	exact := b.policy(outbound.Options{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("168.63.129.16/32")}})
	require.NoError(t, exact.CheckAddr(netip.MustParseAddr("168.63.129.16")))
	require.NoError(t, exact.CheckAddr(netip.MustParseAddr("::ffff:168.63.129.16")))
	require.ErrorIs(t, exact.CheckAddr(netip.MustParseAddr("169.254.169.254")), outbound.ErrRefused)
}

// TestDialRefusesNamesResolvingInside: a name is judged by each address it
// resolves to, and the error names the host, never the address.
func TestDialRefusesNamesResolvingInside(t *testing.T) {
	t.Parallel()
	b := setup(t)
	addrs := map[string]string{
		"loopback": "127.0.0.1", "loopback6": "::1", "unspecified": "0.0.0.0", "unspecified6": "::",
		"private": "10.0.0.5", "cgnat": "100.64.1.2", "linklocal": "169.254.3.4", "zoned": "fe80::1%eth0",
		"zonedany": "::%lo", "mapped": "::ffff:10.0.0.5", "compat": "::10.0.0.5", "nat64": "64:ff9b::a00:5",
		"nat64local": "64:ff9b:1::a00:5", "sixtofour": "2002:a00:5::1", "teredo": "2001::1", "ula": "fd12:3456::1",
		"sitelocal": "fec0::5", "metadata": "169.254.169.254", "metadata6": "fd00:ec2::254", "wireserver": "168.63.129.16",
		"multicast": "239.1.2.3",
	}
	for name, a := range addrs {
		b.dns[name+".test"] = []netip.Addr{netip.MustParseAddr(a)}
	}
	client := b.policy(outbound.Options{}).Client(outbound.ClientOptions{})
	for name, a := range addrs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res, err := client.Get("http://" + name + ".test:8080/")
			if res != nil {
				res.Body.Close()
			}
			require.ErrorIs(t, err, outbound.ErrRefused)
			require.Contains(t, err.Error(), name+".test:8080")
			require.NotContains(t, err.Error(), strings.Split(a, "%")[0]+":")
			require.NotContains(t, err.Error(), "["+a)
			if len(a) > 4 {
				require.NotContains(t, err.Error(), a)
			}
		})
	}
}

// TestErrorsHideResolvedAddresses: whatever fails, the message names the
// host the caller gave.
func TestErrorsHideResolvedAddresses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// A closed port on an allowed name: connection refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	b.dns["down.internal"] = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	b.dns["secret.internal"] = []netip.Addr{netip.MustParseAddr("10.20.30.40")}
	client := b.policy(outbound.Options{AllowHosts: []string{"down.internal"}}).Client(outbound.ClientOptions{})

	for _, tt := range []struct{ url, want, hidden string }{
		{fmt.Sprintf("http://down.internal:%d/", closed), "connection refused", "127.0.0.1"},
		{"http://secret.internal/", "address is not public (private)", "10.20.30.40"},
		{"http://nowhere.internal/", "no such host", "nowhere.internal on"},
	} {
		res, err := client.Get(tt.url)
		if res != nil {
			res.Body.Close()
		}
		require.Error(t, err)
		require.Contains(t, err.Error(), tt.want)
		require.NotContains(t, err.Error(), tt.hidden)
	}
}

// TestRedirectsToInsideGetNoHit: an allowed local server redirects to each
// refused destination; the services there count zero hits.
func TestRedirectsToInsideGetNoHit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	six := listenCounter(t, "tcp6", "[::1]:0")
	two := listenCounter(t, "tcp4", "127.0.0.2:0")
	p6, p2 := port(t, six.url), port(t, two.url)
	b.dns["inside.test"] = []netip.Addr{netip.MustParseAddr("127.0.0.2")}
	b.dns["inside6.test"] = []netip.Addr{netip.MustParseAddr("::1")}

	targets := []string{
		"http://[::1]:" + p6 + "/", "http://[::1%25lo]:" + p6 + "/", "http://[::%25lo]:" + p6 + "/", "http://[::%251]:" + p6 + "/",
		"http://[0:0:0:0:0:0:0:1]:" + p6 + "/", "http://[::]:" + p6 + "/",
		"http://127.0.0.2:" + p2 + "/", "http://2130706434:" + p2 + "/", "http://0177.0.0.2:" + p2 + "/", "http://0x7f.2:" + p2 + "/",
		"http://127.2:" + p2 + "/", "http://[::ffff:127.0.0.2]:" + p2 + "/", "http://[::ffff:7f00:2]:" + p2 + "/",
		"http://inside.test:" + p2 + "/", "http://inside6.test:" + p6 + "/", "http://localhost:" + p6 + "/",
	}
	var mu sync.Mutex
	next := map[string]string{}
	entry := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		to := next[r.URL.Query().Get("t")]
		mu.Unlock()
		http.Redirect(w, r, to, http.StatusFound)
	}))
	t.Cleanup(entry.Close)
	client := b.policy(outbound.Options{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}).Client(outbound.ClientOptions{})
	for i, to := range targets {
		key := fmt.Sprint(i)
		mu.Lock()
		next[key] = to
		mu.Unlock()
		res, err := client.Get(entry.URL + "/?t=" + key)
		if res != nil {
			res.Body.Close()
		}
		require.Error(t, err, to)
	}
	require.Zero(t, six.hits.Load(), "the service on [::1] was reached")
	require.Zero(t, two.hits.Load(), "the service on 127.0.0.2 was reached")

	// The counters do answer when allowed, so zero means refused.
	open := b.policy(outbound.Options{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}).Client(outbound.ClientOptions{})
	for _, u := range []string{six.url, two.url} {
		res, err := open.Get(u)
		require.NoError(t, err)
		res.Body.Close()
	}
	require.EqualValues(t, 1, six.hits.Load())
	require.EqualValues(t, 1, two.hits.Load())
}

// TestCrossOriginRedirectDropsCredentials: headers set on the request and
// headers a wrapping transport adds both stay with the original origin.
func TestCrossOriginRedirectDropsCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t)
	seen := make(chan http.Header, 4)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen <- r.Header.Clone() }))
	t.Cleanup(other.Close)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/", http.StatusFound)
		case "/here":
			http.Redirect(w, r, "/landing", http.StatusFound)
		default:
			seen <- r.Header.Clone()
		}
	}))
	t.Cleanup(origin.Close)
	base := b.policy(outbound.Options{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}).Client(outbound.ClientOptions{})
	client := outbound.WithHeaders(base, map[string]string{"Authorization": "Bearer mcp-secret", "X-Server-Token": "tok"})

	get := func(path string) http.Header {
		req, err := http.NewRequest(http.MethodGet, origin.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Cookie", "session=abc")
		req.Header.Set("X-Api-Key", "key")
		res, err := client.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return <-seen
	}
	h := get("/here")
	require.Equal(t, "Bearer mcp-secret", h.Get("Authorization"))
	require.Equal(t, "tok", h.Get("X-Server-Token"))
	require.Equal(t, "key", h.Get("X-Api-Key"))

	h = get("/away")
	for _, k := range []string{"Authorization", "X-Server-Token", "Cookie", "X-Api-Key"} {
		require.Empty(t, h.Get(k), k)
	}
}

func TestRedirectLimitAndScheme(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var hops atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hops.Add(1)
		if r.URL.Path == "/file" {
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
			return
		}
		http.Redirect(w, r, "/loop", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	client := b.policy(outbound.Options{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}).Client(outbound.ClientOptions{MaxRedirects: 3})
	_, err := client.Get(srv.URL + "/loop")
	require.ErrorContains(t, err, "stopped after 3 redirects")
	require.EqualValues(t, 4, hops.Load())
	_, err = client.Get(srv.URL + "/file")
	require.ErrorContains(t, err, `redirect to a "file" URL refused`)
}

// An allowed host name admits whatever it resolves to, except cloud
// metadata; other names resolving to the same address stay refused.
func TestAllowedHostAdmitsWhatItResolvesTo(t *testing.T) {
	t.Parallel()
	b := setup(t)
	svc := listenCounter(t, "tcp4", "127.0.0.2:0")
	p := port(t, svc.url)
	b.dns["svc.internal"] = []netip.Addr{netip.MustParseAddr("127.0.0.2")}
	b.dns["other.internal"] = []netip.Addr{netip.MustParseAddr("127.0.0.2")}
	b.dns["meta.internal"] = []netip.Addr{netip.MustParseAddr("169.254.169.254")}
	client := b.policy(outbound.Options{AllowHosts: []string{"SVC.internal.", "meta.internal"}}).Client(outbound.ClientOptions{})

	res, err := client.Get("http://svc.internal:" + p + "/")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, "inside", string(body))
	require.EqualValues(t, 1, svc.hits.Load())

	for _, u := range []string{"http://other.internal:" + p + "/", "http://127.0.0.2:" + p + "/", "http://meta.internal/"} {
		_, err := client.Get(u)
		require.ErrorIs(t, err, outbound.ErrRefused, u)
	}
	require.EqualValues(t, 1, svc.hits.Load())
}

// A metadata address reached through a form that embeds its IPv4 address
// (IPv4-compatible, translated, NAT64, 6to4) is still the metadata
// address once a gateway delivers it: a wide allowed prefix (an IPv6-only
// deployment allowing NAT64 to reach IPv4 sites) must not admit it.
func TestMetadataEmbeddedInIPv6StaysRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	wide := b.policy(outbound.Options{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("64:ff9b::/96"),
		netip.MustParsePrefix("::/96"), netip.MustParsePrefix("::ffff:0:0:0/96"), netip.MustParsePrefix("2002::/16")}})
	for _, a := range []string{"64:ff9b::a9fe:a9fe", "64:ff9b::169.254.169.254", "64:ff9b::a83f:8110", "::a9fe:a9fe",
		"::ffff:0:a9fe:a9fe", "2002:a9fe:a9fe::1", "2002:a83f:8110:1::5"} {
		err := wide.CheckAddr(netip.MustParseAddr(a))
		require.ErrorIs(t, err, outbound.ErrRefused, a)
		require.ErrorContains(t, err, "cloud metadata", a)
	}
	// The same prefixes still admit what they were allowed for.
	for _, a := range []string{"64:ff9b::808:808", "::8.8.8.8", "2002:808:808::1"} {
		require.NoError(t, wide.CheckAddr(netip.MustParseAddr(a)), a)
	}
}
