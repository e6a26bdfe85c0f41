package workflow

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/pulse-run/pulse/internal/platform/localtime"
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
	// robfig/cron reads a zone prefix itself, and panics on one without a
	// space after it ("TZ=UTC"); the zone is the timezone field's alone.
	if t := strings.TrimSpace(expr); strings.HasPrefix(t, "TZ=") || strings.HasPrefix(t, "CRON_TZ=") {
		return nil, fmt.Errorf("invalid cron expression: give the zone in the timezone field, not with TZ= in the expression")
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

// Next is the first firing after t.
func (s *Schedule) Next(t time.Time) time.Time {
	w := localtime.Wall(t, s.loc)
	for range 10_000 {
		w = s.spec.Next(w)
		if w.IsZero() {
			return time.Time{}
		}
		if at := localtime.Instant(w, s.loc); at.After(t) {
			return at.UTC()
		}
	}
	return time.Time{}
}
