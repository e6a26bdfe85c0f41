package planner

import (
	"fmt"
	"strings"
	"time"

	"github.com/pulse-run/pulse/internal/planner/schedule"
	"github.com/pulse-run/pulse/internal/platform/apperr"
)

// TimeRange is a local time range within a day, "09:00" to "17:00".
type TimeRange struct {
	Start string `json:"start" pattern:"^([01][0-9]|2[0-3]):[0-5][0-9]$" example:"09:00"`
	End   string `json:"end" pattern:"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$" example:"17:00"`
}

// WeekHours are time ranges per weekday; a day may have several.
type WeekHours struct {
	Monday    []TimeRange `json:"monday,omitempty"`
	Tuesday   []TimeRange `json:"tuesday,omitempty"`
	Wednesday []TimeRange `json:"wednesday,omitempty"`
	Thursday  []TimeRange `json:"thursday,omitempty"`
	Friday    []TimeRange `json:"friday,omitempty"`
	Saturday  []TimeRange `json:"saturday,omitempty"`
	Sunday    []TimeRange `json:"sunday,omitempty"`
}

func (w *WeekHours) days() [7]*[]TimeRange {
	return [7]*[]TimeRange{&w.Sunday, &w.Monday, &w.Tuesday, &w.Wednesday, &w.Thursday, &w.Friday, &w.Saturday}
}

// Preferences are how a user wants to be planned.
type Preferences struct {
	Timezone            string    `json:"timezone" doc:"IANA zone; defaults to the profile's"`
	WorkingHours        WeekHours `json:"working_hours" doc:"when blocks may be placed"`
	FocusPeriods        WeekHours `json:"focus_periods" doc:"preferred times for focused work; blocks go there when deadlines allow"`
	BreakMinutes        int       `json:"break_minutes" minimum:"0" maximum:"240" doc:"free time kept between two blocks"`
	EventBufferMinutes  int       `json:"event_buffer_minutes" minimum:"0" maximum:"240" doc:"free time kept around every busy event"`
	TravelBufferMinutes int       `json:"travel_buffer_minutes" minimum:"0" maximum:"480" doc:"free time kept around events with a location, instead of event_buffer_minutes when larger"`
	DailyCapMinutes     int       `json:"daily_cap_minutes" minimum:"0" maximum:"1440" doc:"the most block time per day; 0: no cap"`
	DaysOff             []string  `json:"days_off" doc:"local dates (YYYY-MM-DD) with no blocks"`
	HorizonDays         int       `json:"horizon_days" minimum:"1" maximum:"90" doc:"how far ahead the plan goes"`
	AllowLate           bool      `json:"allow_late" doc:"place a task after its due date (at risk) rather than leave it unscheduled"`
	MinBlockMinutes     int       `json:"min_block_minutes" minimum:"15" maximum:"480" doc:"the default smallest block of a splittable task"`
	MaxBlockMinutes     int       `json:"max_block_minutes" minimum:"0" maximum:"1440" doc:"the default largest block of a splittable task; 0: no limit"`
	AutoReplan          bool      `json:"auto_replan" doc:"re-plan in the background when tasks, events or preferences change"`
}

// defaultPreferences are a working week, nine to five, two weeks ahead.
func defaultPreferences(zone string) *Preferences {
	nineToFive := []TimeRange{{"09:00", "17:00"}}
	if _, err := time.LoadLocation(zone); zone == "" || err != nil {
		zone = "UTC"
	}
	return &Preferences{Timezone: zone, HorizonDays: 14, AllowLate: true, AutoReplan: true, MinBlockMinutes: 30, MaxBlockMinutes: 120,
		TravelBufferMinutes: 15, DaysOff: []string{},
		WorkingHours: WeekHours{Monday: nineToFive, Tuesday: nineToFive, Wednesday: nineToFive, Thursday: nineToFive, Friday: nineToFive}}
}

var weekdayNames = [7]string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

// parseClock reads "HH:MM" (24:00 allowed as an end).
func parseClock(s string) (schedule.Clock, bool) {
	var h, m int
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &h, &m); err != nil || h > 24 || m > 59 || (h == 24 && m != 0) {
		return 0, false
	}
	return schedule.At(h, m), true
}

// week converts and validates a WeekHours, naming bad ranges by path.
func week(path string, w WeekHours) (schedule.Week, []apperr.FieldError) {
	var out schedule.Week
	var fs []apperr.FieldError
	for d, rs := range w.days() {
		for i, r := range *rs {
			at := fmt.Sprintf("%s.%s[%d]", path, weekdayNames[d], i)
			a, ok1 := parseClock(r.Start)
			b, ok2 := parseClock(r.End)
			switch {
			case !ok1 || !ok2:
				fs = append(fs, apperr.FieldError{Path: at, Message: "start and end must be HH:MM"})
				continue
			case a >= b:
				fs = append(fs, apperr.FieldError{Path: at, Message: fmt.Sprintf("%s-%s ends before it starts", r.Start, r.End)})
				continue
			}
			for j, o := range out[d] {
				if a < o.End && o.Start < b {
					fs = append(fs, apperr.FieldError{Path: at, Message: fmt.Sprintf("%s-%s overlaps %s[%d] %s-%s", r.Start, r.End, weekdayNames[d], j, o.Start, o.End)})
				}
			}
			out[d] = append(out[d], schedule.Range{Start: a, End: b})
		}
	}
	return out, fs
}

// compiled is Preferences in the engine's terms.
type compiled struct {
	loc             *time.Location
	working, focus  schedule.Week
	daysOff         []schedule.Date
	horizon         time.Duration
	brk, cap        time.Duration
	buffer, travel  time.Duration
	minBlock, maxBl int
}

// compile validates preferences; problems are named under body.
func (p *Preferences) compile() (*compiled, error) {
	var fs []apperr.FieldError
	c := &compiled{}
	loc, err := time.LoadLocation(p.Timezone)
	if p.Timezone == "" || err != nil || strings.EqualFold(p.Timezone, "local") {
		fs = append(fs, apperr.FieldError{Path: "body.timezone", Message: "is not a known IANA time zone"})
	}
	c.loc = loc
	var wf, ff []apperr.FieldError
	c.working, wf = week("body.working_hours", p.WorkingHours)
	c.focus, ff = week("body.focus_periods", p.FocusPeriods)
	fs = append(append(fs, wf...), ff...)
	for i, d := range p.DaysOff {
		t, err := time.Parse(time.DateOnly, d)
		if err != nil {
			fs = append(fs, apperr.FieldError{Path: fmt.Sprintf("body.days_off[%d]", i), Message: "must be a date, YYYY-MM-DD"})
			continue
		}
		c.daysOff = append(c.daysOff, schedule.Date{Year: t.Year(), Month: t.Month(), Day: t.Day()})
	}
	if p.HorizonDays < 1 || p.HorizonDays > 90 {
		fs = append(fs, apperr.FieldError{Path: "body.horizon_days", Message: "must be 1 to 90"})
	}
	if p.MaxBlockMinutes > 0 && p.MaxBlockMinutes < p.MinBlockMinutes {
		fs = append(fs, apperr.FieldError{Path: "body.max_block_minutes", Message: "is smaller than min_block_minutes"})
	}
	if len(fs) > 0 {
		return nil, &apperr.Error{Code: apperr.Invalid, Message: "the preferences are not valid", Fields: fs}
	}
	c.horizon = time.Duration(p.HorizonDays) * 24 * time.Hour
	c.brk = time.Duration(p.BreakMinutes) * time.Minute
	c.cap = time.Duration(p.DailyCapMinutes) * time.Minute
	c.buffer = time.Duration(p.EventBufferMinutes) * time.Minute
	c.travel = time.Duration(p.TravelBufferMinutes) * time.Minute
	c.minBlock, c.maxBl = p.MinBlockMinutes, p.MaxBlockMinutes
	return c, nil
}
