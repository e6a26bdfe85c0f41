// Package localtime maps wall-clock times in a zone to instants the way
// people expect across daylight saving changes: a time skipped by a
// spring-forward change happens when the clocks change, and a time that
// happens twice (fall back) is its first occurrence. time.Date leaves both
// choices unspecified.
package localtime

import "time"

// Wall is t's wall clock in loc, as a UTC time (which has no DST), so wall
// times compare and step without gaps or repeats.
func Wall(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), 0, time.UTC)
}

// Instant is the first instant at which loc's clocks show the wall time w
// (as made by Wall), or the end of the gap when a spring-forward change
// skips it.
func Instant(w time.Time, loc *time.Location) time.Time {
	t := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, loc)
	if got := Wall(t, loc); !got.Equal(w) {
		start, end := t.ZoneBounds()
		if got.Before(w) {
			return end
		}
		return start
	}
	// A repeated time: the earlier occurrence, if Go picked the later.
	for _, d := range []time.Duration{-time.Hour, -30 * time.Minute, -2 * time.Hour} {
		if e := t.Add(d); Wall(e, loc).Equal(w) {
			return e
		}
	}
	return t
}
