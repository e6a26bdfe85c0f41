package webhook_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/pulse-run/pulse/internal/platform/webhook"
)

// FuzzSignatureHeader feeds arbitrary headers and bodies to the parser and
// the verifier: neither may panic, a parsed header is well formed, and only
// the true signature of the body verifies.
func FuzzSignatureHeader(f *testing.F) {
	now := time.Unix(1700000000, 0)
	key := []byte("whsec_fuzz")
	for _, seed := range []struct{ header, body string }{
		{webhook.Sign(key, now, []byte(`{"a":1}`)), `{"a":1}`},
		{webhook.Sign(key, now, nil), ``},
		{"t=1700000000,v1=", "x"},
		{"t=1700000000,v1=zz,v1=00,v0=old", "{}"},
		{" t = 1700000000 ,v1=ab", ""},
		{"t=-1,v1=ab", ""},
		{"t=+1700000000,v1=ab", ""},
		{"t=9223372036854775807,v1=ab", ""},
		{"t=1700000000,t=1700000001,v1=ab", ""},
		{",,,=,==,t==1,v1==", ""},
		{"t=1700000000,v1=\x00\xff", "\x00"},
		{"", ""},
	} {
		f.Add(seed.header, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		h, err := webhook.ParseHeader(header)
		if err != nil {
			if h.Timestamp != 0 || h.V1 != nil {
				t.Fatalf("an error came with a partial header: %+v", h)
			}
			return
		}
		if h.Timestamp <= 0 || len(h.V1) == 0 || len(h.V1) > 8 {
			t.Fatalf("ill-formed header accepted: %+v", h)
		}
		at := time.Unix(h.Timestamp, 0)
		sig, err := webhook.Verify(key, header, body, at)
		want := webhook.Sign(key, at, body)
		if err == nil && "t="+strconv.FormatInt(h.Timestamp, 10)+",v1="+sig != want {
			t.Fatalf("verified a signature that is not the body's: %q", header)
		}
		// The true signature, next to whatever was sent, always verifies.
		// (Unless the header is already at its size or signature limits.)
		if _, err := webhook.Verify(key, header+","+want[len("t="+strconv.FormatInt(h.Timestamp, 10))+1:], body, at); err != nil &&
			len(h.V1) < 8 && len(header)+len(want) < 4000 {
			t.Fatalf("the true signature did not verify: %v (%q)", err, header)
		}
	})
}
