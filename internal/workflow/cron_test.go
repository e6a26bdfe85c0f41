package workflow

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fires steps a fake clock from start through n firings, as the trigger
// loop does (each next firing computed from the last).
func fires(t *testing.T, expr, zone string, start time.Time, n int) []string {
	t.Helper()
	s, err := ParseSchedule(expr, zone)
	require.NoError(t, err)
	loc, _ := time.LoadLocation(zone)
	var out []string
	at := start
	for range n {
		at = s.Next(at)
		out = append(out, at.In(loc).Format("2006-01-02 15:04 MST")+" = "+at.UTC().Format("15:04Z"))
	}
	return out
}

func TestCronAcrossDST(t *testing.T) {
	t.Parallel()
	ny := "America/New_York"
	start := time.Date(2025, 3, 7, 20, 0, 0, 0, time.UTC)
	require.Equal(t, []string{
		"2025-03-08 07:00 EST = 12:00Z",
		"2025-03-09 07:00 EDT = 11:00Z", // the clocks went forward overnight: still 07:00 local
		"2025-03-10 07:00 EDT = 11:00Z",
	}, fires(t, "0 7 * * *", ny, start, 3))
	require.Equal(t, []string{
		"2025-03-08 02:30 EST = 07:30Z",
		"2025-03-09 03:00 EDT = 07:00Z", // 02:30 does not exist that night: it fires as the clocks change
		"2025-03-10 02:30 EDT = 06:30Z",
	}, fires(t, "30 2 * * *", ny, start, 3))
	fall := time.Date(2025, 10, 31, 20, 0, 0, 0, time.UTC)
	require.Equal(t, []string{
		"2025-11-01 07:00 EDT = 11:00Z",
		"2025-11-02 07:00 EST = 12:00Z",
	}, fires(t, "0 7 * * *", ny, fall, 2))
	require.Equal(t, []string{
		"2025-11-01 01:30 EDT = 05:30Z",
		"2025-11-02 01:30 EDT = 05:30Z", // 01:30 happens twice that night: once is enough
		"2025-11-03 01:30 EST = 06:30Z",
	}, fires(t, "30 1 * * *", ny, fall, 3))
	// Weekdays at 09:15 in a zone east of UTC.
	require.Equal(t, []string{
		"2025-03-28 09:15 CET = 08:15Z",
		"2025-03-31 09:15 CEST = 07:15Z",
	}, fires(t, "15 9 * * 1-5", "Europe/Paris", time.Date(2025, 3, 27, 12, 0, 0, 0, time.UTC), 2))
}

func TestParseScheduleRefusesBadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ expr, zone, want string }{
		{"0 7 * *", "UTC", "invalid cron expression"},
		{"61 * * * *", "UTC", "invalid cron expression"},
		{"0 7 * * *", "Mars/Olympus", "unknown time zone"},
		{"0 7 * * *", "Local", "unknown time zone"},
		{"@every 1m", "UTC", "@every is not supported"},
	} {
		_, err := ParseSchedule(tc.expr, tc.zone)
		require.ErrorContains(t, err, tc.want, tc.expr)
	}
	_, err := ParseSchedule("@daily", "")
	require.NoError(t, err)
}

// Found by fuzzing's seed corpus (FuzzCronSpec): robfig/cron panics on a
// zone prefix without a space ("TZ=UTC"). Zone prefixes are refused: the
// zone is the trigger's timezone field.
func TestScheduleRefusesZonePrefixes(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{"TZ=UTC", "CRON_TZ=", "TZ=Asia/Tokyo 0 7 * * *", " CRON_TZ=Asia/Tokyo 0 7 * * *"} {
		s, err := ParseSchedule(expr, "UTC")
		require.ErrorContains(t, err, "timezone field", expr)
		require.Nil(t, s)
	}
}
