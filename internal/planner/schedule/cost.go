package schedule

// Cost is a schedule's objective. Levels compare in order, so no amount of
// focus fit buys a missed deadline.
type Cost struct {
	Missed      int // tasks with a due date not finished by it, placed late or left out
	Unscheduled int // the priority weight of tasks left out
	Lateness    int // Σ priority weight × minutes late
	Misfit      int // block slots outside preferred periods, plus 3 per slot in an avoid window
	Fragments   int // blocks
	Finish      int // Σ priority weight × end slot: sooner is better
}

// Less reports whether c is strictly better than o.
func (c Cost) Less(o Cost) bool {
	for _, p := range [...][2]int{
		{c.Missed, o.Missed}, {c.Unscheduled, o.Unscheduled}, {c.Lateness, o.Lateness},
		{c.Misfit, o.Misfit}, {c.Fragments, o.Fragments}, {c.Finish, o.Finish},
	} {
		if p[0] != p[1] {
			return p[0] < p[1]
		}
	}
	return false
}

// urgentLess compares only deadlines missed and tasks left out: what a
// re-plan may move the user's calendar for.
func (c Cost) urgentLess(o Cost) bool {
	if c.Missed != o.Missed {
		return c.Missed < o.Missed
	}
	return c.Unscheduled < o.Unscheduled
}
