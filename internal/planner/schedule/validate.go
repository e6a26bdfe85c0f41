package schedule

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pulse-run/pulse/internal/platform/apperr"
)

// Validate checks Params the way the API does, so a caller that skipped
// its own checks still gets a 422 with paths rather than a bad schedule.
func Validate(p *Params) error {
	var fs []apperr.FieldError
	add := func(path, format string, args ...any) {
		fs = append(fs, apperr.FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if p.Location == nil {
		add("timezone", "is required")
	}
	if err := ValidateWeek(p.Working); err != nil {
		add("working_hours", "%v", err)
	}
	if err := ValidateWeek(p.Focus); err != nil {
		add("focus_periods", "%v", err)
	}
	if p.Break < 0 || p.DailyCap < 0 {
		add("break_minutes", "must not be negative")
	}
	start := p.Start
	if start.IsZero() {
		start = p.Now
	}
	if !p.End.After(start) {
		add("horizon", "ends before it starts")
	}
	ids := make(map[string]bool, len(p.Tasks))
	for i, t := range p.Tasks {
		at := fmt.Sprintf("tasks[%d].", i)
		if t.ID == "" || ids[t.ID] {
			add(at+"id", "is empty or repeated")
		}
		ids[t.ID] = true
		if t.Minutes <= 0 {
			add(at+"estimate_minutes", "must be positive")
		}
		if !t.Due.IsZero() && !t.EarliestStart.IsZero() && t.Due.Before(t.EarliestStart) {
			add(at+"due_at", "is before earliest_start")
		}
		if t.MinBlock < 0 || t.MaxBlock < 0 || t.MaxSplits < 0 {
			add(at+"min_block_minutes", "block sizes and max_splits must not be negative")
		}
		if t.MaxBlock > 0 && t.MinBlock > t.MaxBlock {
			add(at+"min_block_minutes", "is larger than max_block_minutes")
		}
		if !t.Splittable && t.MaxBlock > 0 && t.Minutes > t.MaxBlock {
			add(at+"max_block_minutes", "is less than the estimate of a task that cannot be split")
		}
		if t.Priority != 0 && !slices.Contains([]Priority{Low, Medium, High, Urgent}, t.Priority) {
			add(at+"priority", "is not a known priority")
		}
		for j, w := range t.Preferred {
			if w.Start < 0 || w.End > 1440 || w.Start >= w.End || w.Weekday < 0 || w.Weekday > 6 {
				add(fmt.Sprintf("%spreferred_windows[%d]", at, j), "is not a range within a day")
			}
		}
		for j, w := range t.Avoid {
			if w.Start < 0 || w.End > 1440 || w.Start >= w.End || w.Weekday < 0 || w.Weekday > 6 {
				add(fmt.Sprintf("%savoid_windows[%d]", at, j), "is not a range within a day")
			}
		}
	}
	deps := make(map[string][]string, len(p.Tasks))
	for _, t := range p.Tasks {
		deps[t.ID] = t.DependsOn
	}
	if c := FindCycle(deps); c != nil {
		for i, t := range p.Tasks {
			if t.ID == c[0] {
				add(fmt.Sprintf("tasks[%d].depends_on", i), "forms a cycle: %s", strings.Join(c, " → "))
			}
		}
	}
	for i, b := range append(slices.Clip(p.Fixed), p.Previous...) {
		if !b.End.After(b.Start) {
			add(fmt.Sprintf("blocks[%d]", i), "ends before it starts")
		}
	}
	if len(fs) > 0 {
		return &apperr.Error{Code: apperr.Invalid, Message: "the schedule input is not valid", Fields: fs}
	}
	return nil
}

// FindCycle returns a dependency cycle as a path that starts and ends on
// the same id, or nil. Ids without an entry are taken as done. It is
// deterministic: ids are visited in sorted order.
func FindCycle(deps map[string][]string) []string {
	const (
		unseen = iota
		open
		closed
	)
	state := make(map[string]int, len(deps))
	var stack []string
	var found []string
	var visit func(id string) bool
	visit = func(id string) bool {
		state[id] = open
		stack = append(stack, id)
		for _, d := range deps[id] {
			if _, ok := deps[d]; !ok {
				continue
			}
			switch state[d] {
			case open:
				i := slices.Index(stack, d)
				found = append(slices.Clone(stack[i:]), d)
				return true
			case unseen:
				if visit(d) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = closed
		return false
	}
	ids := make([]string, 0, len(deps))
	for id := range deps {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if state[id] == unseen && visit(id) {
			return found
		}
	}
	return nil
}
