package vault_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/vault"
)

const secret = "vault-test-secret-0123456789abcdef0123"

func TestVault(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		v, err := vault.Open(ctx, d, secret)
		require.NoError(t, err)
		first := v.ActiveKeyID()
		require.NotEmpty(t, first)

		ct, err := v.Encrypt([]byte("sk-live-123"), "provider_key:u1")
		require.NoError(t, err)
		require.NotContains(t, ct, "sk-live")
		require.True(t, strings.HasPrefix(ct, "v1:"+first+":"))
		pt, err := v.Decrypt(ctx, ct, "provider_key:u1")
		require.NoError(t, err)
		require.Equal(t, "sk-live-123", string(pt))

		_, err = v.Decrypt(ctx, ct, "provider_key:u2")
		require.ErrorIs(t, err, vault.ErrDecrypt, "bound to its context")
		tampered := ct[:len(ct)-2] + "AA"
		_, err = v.Decrypt(ctx, tampered, "provider_key:u1")
		require.ErrorIs(t, err, vault.ErrDecrypt)
		_, err = v.Decrypt(ctx, "garbage", "x")
		require.ErrorIs(t, err, vault.ErrDecrypt)

		// Another process (a second Vault on the same database) rotates;
		// this one still decrypts new and old ciphertexts.
		other, err := vault.Open(ctx, d, secret)
		require.NoError(t, err)
		require.Equal(t, first, other.ActiveKeyID(), "opening again reuses the ring")
		second, err := other.Rotate(ctx)
		require.NoError(t, err)
		require.NotEqual(t, first, second)
		newCT, err := other.Encrypt([]byte("after rotation"), "a")
		require.NoError(t, err)
		pt, err = v.Decrypt(ctx, newCT, "a")
		require.NoError(t, err)
		require.Equal(t, "after rotation", string(pt))
		require.True(t, other.Stale(ct))
		require.False(t, other.Stale(newCT))
		pt, err = other.Decrypt(ctx, ct, "provider_key:u1")
		require.NoError(t, err)
		require.Equal(t, "sk-live-123", string(pt))

		// The wrong root secret cannot open the ring.
		_, err = vault.Open(ctx, d, "a-different-secret-0123456789abcdef0123")
		require.ErrorContains(t, err, "PULSE_SECRET_KEY")
	})
}
