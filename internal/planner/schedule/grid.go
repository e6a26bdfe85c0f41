// Package schedule is the planner's scheduling engine. It is pure: no I/O,
// no clock reads (the caller passes "now"), and the same input always
// gives the same schedule, so it is tested exhaustively and re-run freely.
//
// Time is cut into 15-minute slots of absolute time from an origin. Local
// rules (working hours, days off, daily caps) are mapped onto slots in the
// user's zone, so a daylight saving change only changes which slots are
// working: 01:00-05:00 on a spring-forward night is three hours of slots.
package schedule

import (
	"errors"
	"fmt"
	"time"

	"github.com/pulse-run/pulse/internal/platform/localtime"
)

// Slot is the scheduling resolution.
const Slot = 15 * time.Minute

// Clock is a local time of day in minutes after midnight, 0 to 1440.
type Clock int

// At builds a Clock from hours and minutes.
func At(h, m int) Clock { return Clock(h*60 + m) }

func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", c/60, c%60) }

// Range is a local time range [Start, End) within a day.
type Range struct {
	Start, End Clock
}

// Week holds the working ranges of each weekday (indexed by time.Weekday).
type Week [7][]Range

// Date is a local calendar date.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf is t's local date in loc.
func DateOf(t time.Time, loc *time.Location) Date {
	y, m, d := t.In(loc).Date()
	return Date{y, m, d}
}

// Busy is time that is not free: an event, with a buffer kept on both
// sides (travel to an event with a location, say).
type Busy struct {
	Start, End time.Time
	Buffer     time.Duration
}

// GridParams describes the free time of a horizon.
type GridParams struct {
	Start, End time.Time      // the horizon; cut to whole slots
	Location   *time.Location // the user's zone
	Working    Week
	DaysOff    []Date
	Busy       []Busy
}

// Grid is a horizon in slots: which are free, and the local day of each.
type Grid struct {
	Origin time.Time // the start of slot 0 (UTC, a multiple of Slot)
	Free   []bool
	Day    []int // the local day of each slot, counted from the first
	Loc    *time.Location
}

// ValidateWeek checks working ranges: inside a day, not inverted, not
// overlapping. Errors name the weekday and range.
func ValidateWeek(w Week) error {
	var errs []error
	for d, rs := range w {
		for i, r := range rs {
			if r.Start < 0 || r.End > 1440 || r.Start >= r.End {
				errs = append(errs, fmt.Errorf("%s[%d]: %s-%s is not a range within a day", time.Weekday(d), i, r.Start, r.End))
				continue
			}
			for j := range i {
				if o := rs[j]; r.Start < o.End && o.Start < r.End {
					errs = append(errs, fmt.Errorf("%s[%d]: %s-%s overlaps %s-%s", time.Weekday(d), i, r.Start, r.End, o.Start, o.End))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// NewGrid computes the free slots of a horizon.
func NewGrid(p GridParams) (*Grid, error) {
	if p.Location == nil {
		return nil, errors.New("schedule: no location")
	}
	if err := ValidateWeek(p.Working); err != nil {
		return nil, err
	}
	origin := p.Start.UTC().Truncate(Slot)
	n := int(p.End.UTC().Sub(origin) / Slot)
	if n <= 0 {
		return nil, errors.New("schedule: the horizon is empty")
	}
	if n > 4*24*366 {
		return nil, errors.New("schedule: the horizon is longer than a year")
	}
	g := &Grid{Origin: origin, Free: make([]bool, n), Day: make([]int, n), Loc: p.Location}
	off := map[Date]bool{}
	for _, d := range p.DaysOff {
		off[d] = true
	}
	first := DateOf(origin, p.Location)
	firstNoon := time.Date(first.Year, first.Month, first.Day, 12, 0, 0, 0, time.UTC)
	for i := range n {
		d := DateOf(g.At(i), p.Location)
		g.Day[i] = int(time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Sub(firstNoon).Hours() / 24)
	}
	// Working hours, day by day in local dates, mapped to real instants.
	last := DateOf(g.At(n-1), p.Location)
	for d := first; !after(d, last); d = next(d) {
		if off[d] {
			continue
		}
		wd := time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Weekday()
		for _, r := range p.Working[wd] {
			g.mark(instant(d, r.Start, p.Location), instant(d, r.End, p.Location), true)
		}
	}
	for _, b := range p.Busy {
		g.mark(b.Start.Add(-b.Buffer), b.End.Add(b.Buffer), false)
	}
	return g, nil
}

// At is the start of slot i.
func (g *Grid) At(i int) time.Time { return g.Origin.Add(time.Duration(i) * Slot) }

// mark sets the slots in [from, to): free ones must lie wholly inside;
// busy ones are every slot the interval touches.
func (g *Grid) mark(from, to time.Time, free bool) {
	if !to.After(from) {
		return
	}
	lo := from.Sub(g.Origin)
	hi := to.Sub(g.Origin)
	var a, b int
	if free {
		a, b = ceilDiv(lo, Slot), floorDiv(hi, Slot)
	} else {
		a, b = floorDiv(lo, Slot), ceilDiv(hi, Slot)
	}
	a, b = max(a, 0), min(b, len(g.Free))
	for i := a; i < b; i++ {
		g.Free[i] = free
	}
}

func floorDiv(d, s time.Duration) int {
	q := d / s
	if d%s != 0 && d < 0 {
		q--
	}
	return int(q)
}

func ceilDiv(d, s time.Duration) int {
	q := d / s
	if d%s != 0 && d > 0 {
		q++
	}
	return int(q)
}

// instant is when day d's local time c happens in loc (see localtime);
// 24:00 is the next day's midnight.
func instant(d Date, c Clock, loc *time.Location) time.Time {
	return localtime.Instant(time.Date(d.Year, d.Month, d.Day, int(c/60), int(c%60), 0, 0, time.UTC), loc)
}

func next(d Date) Date {
	t := time.Date(d.Year, d.Month, d.Day+1, 12, 0, 0, 0, time.UTC)
	return Date{t.Year(), t.Month(), t.Day()}
}

func after(a, b Date) bool {
	return time.Date(a.Year, a.Month, a.Day, 0, 0, 0, 0, time.UTC).After(time.Date(b.Year, b.Month, b.Day, 0, 0, 0, 0, time.UTC))
}
