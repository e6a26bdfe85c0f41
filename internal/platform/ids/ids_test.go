package ids_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/ids"
)

func TestNewIsSortableUUIDv7(t *testing.T) {
	t.Parallel()
	prev := ids.New()
	for range 1000 {
		id := ids.New()
		require.True(t, ids.Valid(id))
		require.Equal(t, byte('7'), id[14], "version 7")
		require.Greater(t, id, prev, "later ids sort after earlier ones")
		prev = id
	}
	require.False(t, ids.Valid(""))
	require.False(t, ids.Valid("not-a-uuid"))
	require.False(t, ids.Valid("0190d3e8-7c9a-7b2e-8f00-00000000000g"))
}
