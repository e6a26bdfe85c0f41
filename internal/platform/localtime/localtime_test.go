package localtime

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestInstant(t *testing.T) {
	t.Parallel()
	ny, _ := time.LoadLocation("America/New_York")
	wall := func(mo time.Month, d, h, m int) time.Time { return time.Date(2025, mo, d, h, m, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name string
		w    time.Time
		want string
	}{
		{"an ordinary time", wall(3, 8, 7, 0), "2025-03-08T12:00:00Z"},
		{"skipped by spring forward: when the clocks change", wall(3, 9, 2, 30), "2025-03-09T07:00:00Z"},
		{"just after the gap", wall(3, 9, 3, 0), "2025-03-09T07:00:00Z"},
		{"repeated by fall back: the first", wall(11, 2, 1, 30), "2025-11-02T05:30:00Z"},
		{"after the repeat", wall(11, 2, 2, 0), "2025-11-02T07:00:00Z"},
	} {
		require.Equal(t, tc.want, Instant(tc.w, ny).UTC().Format(time.RFC3339), tc.name)
	}
	at := time.Date(2025, 11, 2, 6, 30, 0, 0, time.UTC) // 01:30 EST, the second 01:30
	require.Equal(t, wall(11, 2, 1, 30), Wall(at, ny))
}
