package auth

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Cheap parameters keep tests fast; the production defaults are checked
// separately.
var testParams = HashParams{MemoryKiB: 64, Time: 1, Threads: 1}

func TestHasher(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := NewHasher(testParams)
	enc, err := h.Hash(ctx, "correct horse battery")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$"))
	other, err := h.Hash(ctx, "correct horse battery")
	require.NoError(t, err)
	require.NotEqual(t, enc, other, "salted")

	ok, rehash, err := h.Verify(ctx, "correct horse battery", enc)
	require.NoError(t, err)
	require.True(t, ok)
	require.False(t, rehash)
	ok, _, err = h.Verify(ctx, "wrong", enc)
	require.NoError(t, err)
	require.False(t, ok)
	ok, _, err = h.Verify(ctx, "", "")
	require.NoError(t, err)
	require.False(t, ok, "no hash never matches, whatever the password")

	// A hash made with older parameters still verifies and asks for a rehash.
	stronger := NewHasher(HashParams{MemoryKiB: 128, Time: 1, Threads: 1})
	ok, rehash, err = stronger.Verify(ctx, "correct horse battery", enc)
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, rehash)

	_, _, err = h.Verify(ctx, "x", "$bcrypt$nope")
	require.Error(t, err)
}

// An unknown user costs a full hash, like a known one.
func TestDummyHashCostsAFullHash(t *testing.T) {
	t.Parallel()
	h := NewHasher(testParams)
	p, salt, key, err := decode(h.dummy)
	require.NoError(t, err)
	require.Equal(t, testParams, p)
	require.Len(t, salt, saltLen)
	require.Len(t, key, keyLen)
}

func TestDefaultParamsMeetOWASP(t *testing.T) {
	t.Parallel()
	require.GreaterOrEqual(t, DefaultHashParams.MemoryKiB, uint32(19*1024))
	require.GreaterOrEqual(t, DefaultHashParams.Time, uint32(2))
	require.GreaterOrEqual(t, DefaultHashParams.Threads, uint8(1))
}

func TestHashingIsCappedAtCoreCount(t *testing.T) {
	t.Parallel()
	h := NewHasher(testParams)
	require.Equal(t, cap(h.slots), len(h.slots)+cap(h.slots))
	for range cap(h.slots) {
		require.NoError(t, h.acquire(context.Background()))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.Hash(ctx, "x")
	require.ErrorIs(t, err, context.Canceled, "a full hasher makes callers wait, not hash")
}

func BenchmarkLogin(b *testing.B) {
	h := NewHasher(DefaultHashParams)
	enc, err := h.Hash(context.Background(), "correct horse battery")
	require.NoError(b, err)
	b.SetParallelism(1)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _, _ := h.Verify(context.Background(), "correct horse battery", enc); !ok {
				b.Fatal("no match")
			}
		}
	})
}
