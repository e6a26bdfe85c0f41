package schedule

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func weekdays(rs ...Range) Week {
	var w Week
	for d := time.Monday; d <= time.Friday; d++ {
		w[d] = rs
	}
	return w
}

func everyDay(rs ...Range) Week {
	var w Week
	for d := range w {
		w[d] = rs
	}
	return w
}

// free lists the free stretches of a grid as local "HH:MM-HH:MM" per date.
func free(g *Grid) []string {
	var out []string
	for i := 0; i < len(g.Free); {
		if !g.Free[i] {
			i++
			continue
		}
		j := i
		for j < len(g.Free) && g.Free[j] {
			j++
		}
		a, b := g.At(i).In(g.Loc), g.At(j).In(g.Loc)
		out = append(out, a.Format("01-02 15:04 MST")+"-"+b.Format("15:04 MST"))
		i = j
	}
	return out
}

func count(g *Grid) int {
	n := 0
	for _, f := range g.Free {
		if f {
			n++
		}
	}
	return n
}

func TestGridWorkingHoursAndBusyTime(t *testing.T) {
	t.Parallel()
	paris, _ := time.LoadLocation("Europe/Paris")
	mon := time.Date(2025, 6, 2, 0, 0, 0, 0, paris) // a Monday
	g, err := NewGrid(GridParams{Start: mon, End: mon.AddDate(0, 0, 7), Location: paris,
		Working: weekdays(Range{At(9, 0), At(12, 0)}, Range{At(13, 30), At(17, 10)}),
		DaysOff: []Date{{2025, 6, 4}},
		Busy: []Busy{
			{Start: time.Date(2025, 6, 2, 10, 0, 0, 0, paris), End: time.Date(2025, 6, 2, 10, 50, 0, 0, paris)},
			{Start: time.Date(2025, 6, 3, 15, 0, 0, 0, paris), End: time.Date(2025, 6, 3, 16, 0, 0, 0, paris), Buffer: 20 * time.Minute},
		}})
	require.NoError(t, err)
	require.Equal(t, []string{
		"06-02 09:00 CEST-10:00 CEST", "06-02 11:00 CEST-12:00 CEST", "06-02 13:30 CEST-17:00 CEST", // 10:50 ends mid-slot; 17:10 is cut to 17:00
		"06-03 09:00 CEST-12:00 CEST", "06-03 13:30 CEST-14:30 CEST", "06-03 16:30 CEST-17:00 CEST", // 20-minute buffers around 15:00-16:00
		"06-05 09:00 CEST-12:00 CEST", "06-05 13:30 CEST-17:00 CEST", // the 4th is a day off
		"06-06 09:00 CEST-12:00 CEST", "06-06 13:30 CEST-17:00 CEST",
	}, free(g))
	require.Equal(t, 0, g.Day[0])
	require.Equal(t, 6, g.Day[len(g.Day)-1])
}

// The case: availability 01:00-05:00 local in New York on the night
// the clocks go forward (2025-03-09) is three hours; on the night they go
// back (2025-11-02) it is five.
func TestGridAcrossDST(t *testing.T) {
	t.Parallel()
	ny, _ := time.LoadLocation("America/New_York")
	night := everyDay(Range{At(1, 0), At(5, 0)})
	spring, err := NewGrid(GridParams{Start: time.Date(2025, 3, 8, 0, 0, 0, 0, ny), End: time.Date(2025, 3, 11, 0, 0, 0, 0, ny), Location: ny, Working: night})
	require.NoError(t, err)
	require.Equal(t, []string{
		"03-08 01:00 EST-05:00 EST",
		"03-09 01:00 EST-05:00 EDT", // 06:00Z to 09:00Z
		"03-10 01:00 EDT-05:00 EDT",
	}, free(spring))
	require.Equal(t, 16+12+16, count(spring))
	// Days are local: the 9th is a 23-hour day.
	require.Equal(t, 2, spring.Day[len(spring.Day)-1])

	fall, err := NewGrid(GridParams{Start: time.Date(2025, 11, 1, 0, 0, 0, 0, ny), End: time.Date(2025, 11, 4, 0, 0, 0, 0, ny), Location: ny, Working: night})
	require.NoError(t, err)
	require.Equal(t, 16+20+16, count(fall))

	// A range starting inside the skipped hour starts when the clocks change.
	gap, err := NewGrid(GridParams{Start: time.Date(2025, 3, 9, 0, 0, 0, 0, ny), End: time.Date(2025, 3, 10, 0, 0, 0, 0, ny), Location: ny,
		Working: everyDay(Range{At(2, 30), At(4, 0)})})
	require.NoError(t, err)
	require.Equal(t, []string{"03-09 03:00 EDT-04:00 EDT"}, free(gap))
}

func TestGridRefusesBadInput(t *testing.T) {
	t.Parallel()
	utc := time.UTC
	start := time.Date(2025, 1, 6, 0, 0, 0, 0, utc)
	for _, tc := range []struct {
		name string
		p    GridParams
		want string
	}{
		{"inverted range", GridParams{Start: start, End: start.Add(24 * time.Hour), Location: utc, Working: weekdays(Range{At(17, 0), At(9, 0)})},
			"Monday[0]: 17:00-09:00 is not a range within a day"},
		{"overlapping ranges", GridParams{Start: start, End: start.Add(24 * time.Hour), Location: utc,
			Working: weekdays(Range{At(9, 0), At(12, 0)}, Range{At(11, 0), At(13, 0)})}, "Monday[1]: 11:00-13:00 overlaps 09:00-12:00"},
		{"past midnight", GridParams{Start: start, End: start.Add(24 * time.Hour), Location: utc, Working: weekdays(Range{At(22, 0), At(25, 0)})},
			"is not a range within a day"},
		{"empty horizon", GridParams{Start: start, End: start, Location: utc}, "the horizon is empty"},
		{"no zone", GridParams{Start: start, End: start.Add(time.Hour)}, "no location"},
	} {
		_, err := NewGrid(tc.p)
		require.ErrorContains(t, err, tc.want, tc.name)
	}
}
