package workflow

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is a cron expression in a time zone, evaluated on the zone's
// wall clock: every local time fires at most once a day. A time skipped by
// a spring-forward change fires at the instant the clocks change; a time
// repeated by a fall-back change fires on its first occurrence. (Plain
// robfig/cron skips the first and fires the second twice.)
type Schedule struct {
	spec cron.Schedule
	loc  *time.Location
}

// ParseSchedule reads a five-field cron expression (or @daily, @hourly…)
// and an IANA zone.
func ParseSchedule(expr, zone string) (*Schedule, error) {
	if zone == "" {
		zone = "UTC"
	}
	if zone == "Local" {
		return nil, fmt.Errorf("unknown time zone %q: name an IANA zone such as Europe/Paris", zone)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: name an IANA zone such as Europe/Paris", zone)
	}
	if strings.HasPrefix(strings.TrimSpace(expr), "@every") {
		return nil, fmt.Errorf("@every is not supported: use a cron expression")
	}
	spec, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid cron expression: %v", err)
	}
	return &Schedule{spec: spec, loc: loc}, nil
}

// wall is t's local wall clock, as a UTC time (which has no DST).
func wall(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), 0, time.UTC)
}

// instant is the first real instant showing the wall clock w in loc, or
// the end of the gap when w does not exist there.
func instant(w time.Time, loc *time.Location) time.Time {
	t := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, loc)
	if !wall(t, loc).Equal(w) {
		// In a spring-forward gap: fire when the clocks change.
		start, end := t.ZoneBounds()
		if wall(t, loc).Before(w) {
			return end
		}
		return start
	}
	// Go may pick either occurrence of a repeated time: take the first.
	for _, d := range []time.Duration{-time.Hour, -30 * time.Minute, -2 * time.Hour} {
		if e := t.Add(d); wall(e, loc).Equal(w) {
			return e
		}
	}
	return t
}

// Next is the first firing after t.
func (s *Schedule) Next(t time.Time) time.Time {
	w := wall(t, s.loc)
	for range 10_000 {
		w = s.spec.Next(w)
		if w.IsZero() {
			return time.Time{}
		}
		if at := instant(w, s.loc); at.After(t) {
			return at.UTC()
		}
	}
	return time.Time{}
}
