package auth

import (
	"context"
	"testing"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
)

// BenchmarkTokenVerify measures access-token checks. Run with -cpu 1 for a
// per-core figure.
//   - signature: a token not seen before (Ed25519 verify and claim checks)
//   - cached: a token this process verified before (every later request)
//   - authenticate: cached verify plus the revocation lookup, i.e. what
//     each authenticated request costs on embedded SQLite
func BenchmarkTokenVerify(b *testing.B) {
	ctx := context.Background()
	bundle := setupService(b, dbtest.Open(b, config.SQLite))
	_, tok := bundle.user(b)
	b.Run("signature", func(b *testing.B) {
		for b.Loop() {
			if _, err := bundle.svc.tokens.verifySignature(ctx, tok.AccessToken); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := bundle.svc.tokens.verify(ctx, tok.AccessToken); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("authenticate", func(b *testing.B) {
		for b.Loop() {
			if _, err := bundle.svc.Authenticate(ctx, tok.AccessToken); err != nil {
				b.Fatal(err)
			}
		}
	})
}
