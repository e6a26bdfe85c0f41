package schedule

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A week from Monday 2 June 2025, 08:00 in Paris, 09:00-17:00 on weekdays.
var (
	paris, _ = time.LoadLocation("Europe/Paris")
	monday   = time.Date(2025, 6, 2, 8, 0, 0, 0, paris)
)

func at(day, h, m int) time.Time { return time.Date(2025, 6, 2+day, h, m, 0, 0, paris) }

func week(tasks ...Task) Params {
	return Params{Now: monday, End: monday.AddDate(0, 0, 7), Location: paris,
		Working: weekdays(Range{At(9, 0), At(17, 0)}), Tasks: tasks}
}

// blocks shows a result as "id Mon 09:00-10:00" in the result's zone.
func blocks(r *Result, loc *time.Location) []string {
	out := []string{}
	for _, b := range r.Blocks {
		out = append(out, fmt.Sprintf("%s %s-%s", b.TaskID, b.Start.In(loc).Format("Mon 15:04"), b.End.In(loc).Format("15:04")))
	}
	return out
}

func solve(t *testing.T, p Params) *Result {
	t.Helper()
	r, err := Solve(p)
	require.NoError(t, err)
	return r
}

func TestTwoSimpleTasks(t *testing.T) {
	t.Parallel()
	r := solve(t, week(
		Task{ID: "essay", Title: "Essay", Minutes: 90, Due: at(4, 17, 0)},
		Task{ID: "quiz", Title: "Quiz prep", Minutes: 60, Due: at(1, 12, 0)},
	))
	// The earlier due date goes first; both start as soon as work does.
	require.Equal(t, []string{"quiz Mon 09:00-10:00", "essay Mon 10:00-11:30"}, blocks(r, paris))
	require.Empty(t, r.Unscheduled)
	require.Empty(t, r.AtRisk)
	require.Zero(t, r.Cost.Missed)
	require.Contains(t, r.Blocks[0].Why, "finishes 1 day 2 h before its due date (Tue 3 Jun 12:00)")
}

func TestDeadlineConflictLeavesOneOut(t *testing.T) {
	t.Parallel()
	p := week(
		Task{ID: "a", Title: "Lab report", Minutes: 120, Due: at(0, 12, 0), Priority: Low},
		Task{ID: "b", Title: "Problem set", Minutes: 120, Due: at(0, 12, 0), Priority: High},
	)
	p.Working = weekdays(Range{At(9, 0), At(12, 0)})
	r := solve(t, p)
	require.Equal(t, []string{"b Mon 09:00-11:00"}, blocks(r, paris), "the higher priority wins the only room")
	require.Equal(t, []Unscheduled{{TaskID: "a", Reason: NoRoomBeforeDue,
		Detail: "There is not enough free time before its due date (Mon 2 Jun 12:00)."}}, r.Unscheduled)
	require.Equal(t, 1, r.Cost.Missed)

	// When late work is allowed it goes on the next free morning, at risk.
	p.AllowLate = true
	r = solve(t, p)
	require.Equal(t, []string{"b Mon 09:00-11:00", "a Tue 09:00-11:00"}, blocks(r, paris))
	require.Empty(t, r.Unscheduled)
	require.Equal(t, []AtRisk{{TaskID: "a", ETA: at(1, 11, 0), Due: at(0, 12, 0)}}, r.AtRisk)
	require.Contains(t, r.Blocks[1].Why, "There is no room before its due date (Mon 2 Jun 12:00)")
	require.Contains(t, r.Blocks[1].Why, "finishes 23 h late")
}

// The DST case: availability 01:00-05:00 in New York on the night
// the clocks spring forward is three hours, so a four-hour task cannot be
// done by 06:00 but a three-hour one fills the night exactly.
func TestDSTBoundary(t *testing.T) {
	t.Parallel()
	ny, _ := time.LoadLocation("America/New_York")
	p := Params{Now: time.Date(2025, 3, 9, 0, 0, 0, 0, ny), End: time.Date(2025, 3, 10, 0, 0, 0, 0, ny), Location: ny,
		Working: everyDay(Range{At(1, 0), At(5, 0)})}
	p.Tasks = []Task{{ID: "long", Title: "Long", Minutes: 240, Due: time.Date(2025, 3, 9, 6, 0, 0, 0, ny)}}
	r := solve(t, p)
	require.Empty(t, r.Blocks)
	require.Equal(t, NoRoomBeforeDue, r.Unscheduled[0].Reason)

	p.Tasks = []Task{{ID: "fits", Title: "Fits", Minutes: 180, Due: time.Date(2025, 3, 9, 6, 0, 0, 0, ny)}}
	r = solve(t, p)
	require.Len(t, r.Blocks, 1)
	require.Equal(t, "2025-03-09T06:00:00Z", r.Blocks[0].Start.UTC().Format(time.RFC3339))
	require.Equal(t, "2025-03-09T09:00:00Z", r.Blocks[0].End.UTC().Format(time.RFC3339))
	require.Equal(t, "01:00 EST-05:00 EDT", r.Blocks[0].Start.In(ny).Format("15:04 MST")+"-"+r.Blocks[0].End.In(ny).Format("15:04 MST"))
}

func TestEarliestStart(t *testing.T) {
	t.Parallel()
	r := solve(t, week(Task{ID: "x", Title: "Read", Minutes: 60, EarliestStart: at(2, 10, 10)}))
	require.Equal(t, []string{"x Wed 10:15-11:15"}, blocks(r, paris))
	require.Contains(t, r.Blocks[0].Why, "after its earliest start (Wed 4 Jun 10:10)")
}

func TestHorizonIsRespected(t *testing.T) {
	t.Parallel()
	p := week(
		Task{ID: "big", Title: "Thesis", Minutes: 6 * 60, Splittable: true, MinBlock: 60},
		Task{ID: "late", Title: "Later", Minutes: 30, EarliestStart: monday.AddDate(0, 0, 8)},
	)
	p.End = at(0, 17, 0) // one working day: 8 hours, but only 5 free
	p.Busy = []Busy{{Start: at(0, 12, 0), End: at(0, 15, 0)}}
	p.Tasks[0].Minutes = 5*60 + 15
	r := solve(t, p)
	require.Empty(t, r.Blocks)
	require.ElementsMatch(t, []Unscheduled{
		{TaskID: "big", Reason: NoRoomInHorizon, Detail: "There is not enough free time in the planning horizon."},
		{TaskID: "late", Reason: StartsAfterHorizon, Detail: "It cannot start before the end of the planning horizon."},
	}, r.Unscheduled)

	p.Tasks[0].Minutes = 5 * 60
	r = solve(t, p)
	require.Equal(t, []string{"big Mon 09:00-12:00", "big Mon 15:00-17:00"}, blocks(r, paris))
}

func TestMaxSplits(t *testing.T) {
	t.Parallel()
	// Monday is cut into one-hour gaps by meetings; Tuesday is free.
	p := week(Task{ID: "t", Title: "Project", Minutes: 180, Splittable: true, MinBlock: 60, MaxSplits: 2})
	for h := 10; h < 17; h += 2 {
		p.Busy = append(p.Busy, Busy{Start: at(0, h, 0), End: at(0, h+1, 0)})
	}
	r := solve(t, p)
	// Three one-hour gaps on Monday would need three blocks: it waits.
	require.Equal(t, []string{"t Tue 09:00-12:00"}, blocks(r, paris))

	// Due on Monday, it takes three of the gaps when allowed three blocks,
	p.Tasks[0].MaxSplits, p.Tasks[0].Due = 3, at(0, 17, 0)
	r = solve(t, p)
	require.Equal(t, []string{"t Mon 09:00-10:00", "t Mon 11:00-12:00", "t Mon 13:00-14:00"}, blocks(r, paris))
	require.Equal(t, 3, r.Blocks[0].Of)
	require.Contains(t, r.Blocks[0].Why, "Split into 3 blocks")

	// and cannot fit in two.
	p.Tasks[0].MaxSplits = 2
	r = solve(t, p)
	require.Equal(t, NoRoomBeforeDue, r.Unscheduled[0].Reason)

	// With no limit and no due date, fewer blocks beat finishing sooner.
	p.Tasks[0].MaxSplits, p.Tasks[0].Due = 0, time.Time{}
	r = solve(t, p)
	require.Equal(t, []string{"t Tue 09:00-12:00"}, blocks(r, paris))
}

func TestLockedBlocksNeverMove(t *testing.T) {
	t.Parallel()
	p := week(
		Task{ID: "a", Title: "A", Minutes: 120, Due: at(0, 12, 0), Priority: Urgent},
		Task{ID: "b", Title: "B", Minutes: 120, Due: at(4, 12, 0)},
	)
	// b is locked on Monday morning, where a would want to go; a misses.
	p.Fixed = []Block{{TaskID: "b", Start: at(0, 9, 30), End: at(0, 11, 0)}}
	p.AllowLate = true
	r := solve(t, p)
	require.Equal(t, []string{"a Mon 11:00-13:00", "b Mon 13:00-13:30"}, blocks(r, paris), "b has 30 minutes left")
	require.Equal(t, []AtRisk{{TaskID: "a", ETA: at(0, 13, 0), Due: at(0, 12, 0)}}, r.AtRisk)
	for _, b := range r.Blocks {
		require.False(t, b.Start.Before(at(0, 11, 0)) && b.End.After(at(0, 9, 30)), "nothing overlaps the locked block")
	}
}

func TestReplanWithinScope(t *testing.T) {
	t.Parallel()
	p := week(
		Task{ID: "mon", Title: "Mon", Minutes: 60, Due: at(0, 17, 0)},
		Task{ID: "tue", Title: "Tue", Minutes: 60, EarliestStart: at(1, 9, 0)},
		Task{ID: "wed", Title: "Wed", Minutes: 60, EarliestStart: at(2, 9, 0)},
	)
	first := solve(t, p)
	require.Equal(t, []string{"mon Mon 09:00-10:00", "tue Tue 09:00-10:00", "wed Wed 09:00-10:00"}, blocks(first, paris))

	// A meeting lands on Tuesday morning and a new task arrives; the user
	// re-plans Tuesday only. Monday and Wednesday stay as they were, even
	// though the new task would otherwise go on Monday.
	p.Previous = blockList(first)
	p.Busy = []Busy{{Start: at(1, 9, 0), End: at(1, 10, 0)}}
	p.Tasks = append(p.Tasks, Task{ID: "new", Title: "New", Minutes: 45})
	p.ScopeStart, p.ScopeEnd = at(1, 0, 0), at(2, 0, 0)
	r := solve(t, p)
	// The shorter task first: both finish as early as they can on average.
	require.Equal(t, []string{"new Tue 10:00-10:45", "tue Tue 10:45-11:45"}, blocks(r, paris), "out-of-scope blocks are fixed, so not in the result")
	require.Equal(t, 1, r.Moved)
	require.Zero(t, r.Kept)
}

func TestTravelBuffers(t *testing.T) {
	t.Parallel()
	p := week(Task{ID: "a", Title: "A", Minutes: 60}, Task{ID: "b", Title: "B", Minutes: 120})
	// An appointment across town at 10:30 with 30 minutes of travel each way.
	p.Busy = []Busy{{Start: at(0, 10, 30), End: at(0, 11, 30), Buffer: 30 * time.Minute}}
	r := solve(t, p)
	require.Equal(t, []string{"a Mon 09:00-10:00", "b Mon 12:00-14:00"}, blocks(r, paris))
}

func TestDailyCapAndBreaks(t *testing.T) {
	t.Parallel()
	p := week(Task{ID: "a", Title: "A", Minutes: 60}, Task{ID: "b", Title: "B", Minutes: 60}, Task{ID: "c", Title: "C", Minutes: 60})
	p.Break = 15 * time.Minute
	p.DailyCap = 2 * time.Hour
	r := solve(t, p)
	require.Equal(t, []string{"a Mon 09:00-10:00", "b Mon 10:15-11:15", "c Tue 09:00-10:00"}, blocks(r, paris))

	// A task that only fits by breaking the cap is left out, saying so.
	p.Tasks = []Task{{ID: "big", Title: "Big", Minutes: 180, Due: at(4, 17, 0)}}
	r = solve(t, p)
	require.Equal(t, []Unscheduled{{TaskID: "big", Reason: DailyCapReached,
		Detail: "It would fit only by going over your daily limit of scheduled time."}}, r.Unscheduled)
}

func TestDependencies(t *testing.T) {
	t.Parallel()
	p := week(
		Task{ID: "write", Title: "Write", Minutes: 60, DependsOn: []string{"outline"}, Due: at(0, 12, 0)},
		Task{ID: "outline", Title: "Outline", Minutes: 60},
		Task{ID: "submit", Title: "Submit", Minutes: 15, DependsOn: []string{"write", "gone"}},
	)
	r := solve(t, p)
	// outline inherits write's due date, so it goes first; "gone" is done.
	require.Equal(t, []string{"outline Mon 09:00-10:00", "write Mon 10:00-11:00", "submit Mon 11:00-11:15"}, blocks(r, paris))
	require.Contains(t, r.Blocks[1].Why, "after “Outline”, which it depends on")

	p.Tasks[1].EarliestStart = monday.AddDate(0, 0, 9) // outline cannot happen this week
	r = solve(t, p)
	require.Empty(t, r.Blocks)
	require.Equal(t, []Unscheduled{
		{TaskID: "write", Reason: DependencyNotPlaced, Detail: "It depends on “Outline”, which could not be placed."},
		{TaskID: "outline", Reason: StartsAfterHorizon, Detail: "It cannot start before the end of the planning horizon."},
		{TaskID: "submit", Reason: DependencyNotPlaced, Detail: "It depends on “Write”, which could not be placed."},
	}, r.Unscheduled)
}

func TestFocusPeriodsAndWindows(t *testing.T) {
	t.Parallel()
	p := week(
		Task{ID: "deep", Title: "Deep work", Minutes: 120, Due: at(0, 17, 0)},
		Task{ID: "gym", Title: "Gym", Minutes: 60, Preferred: []Window{{time.Wednesday, Range{At(16, 0), At(18, 0)}}}},
		Task{ID: "calls", Title: "Calls", Minutes: 60, Avoid: []Window{{time.Monday, Range{At(0, 0), At(24, 0)}}}},
	)
	p.Focus = weekdays(Range{At(14, 0), At(17, 0)})
	r := solve(t, p)
	require.Equal(t, []string{"deep Mon 14:00-16:00", "calls Tue 14:00-15:00", "gym Wed 16:00-17:00"}, blocks(r, paris))
	require.Zero(t, r.Cost.Misfit)
	require.Contains(t, r.Blocks[0].Why, "suits your focus periods")
}

// Re-planning keeps every block that still fits: one task changes and
// only its blocks move.
func TestReplanKeepsValidBlocks(t *testing.T) {
	t.Parallel()
	p := week()
	for i := range 12 {
		p.Tasks = append(p.Tasks, Task{ID: fmt.Sprintf("t%02d", i), Title: "T", Minutes: 60 + 15*(i%3), Due: at(4, 17, 0)})
	}
	first := solve(t, p)
	require.Zero(t, first.Cost.Missed)
	p.Previous = blockList(first)
	p.Tasks[3].Minutes += 30 // t03 grows
	r := solve(t, p)
	require.Equal(t, 1, r.Moved)
	require.Equal(t, len(first.Blocks)-1, r.Kept)

	// A new meeting over one block moves that block only.
	p.Previous = blockList(r)
	p.Busy = []Busy{{Start: r.Blocks[5].Start, End: r.Blocks[5].Start.Add(15 * time.Minute)}}
	r2 := solve(t, p)
	require.Equal(t, 1, r2.Moved)

	// Nothing changed: nothing moves.
	p.Previous = blockList(r2)
	r3 := solve(t, p)
	require.Zero(t, r3.Moved)
	require.Equal(t, blocks(r2, paris), blocks(r3, paris))
}

// A re-plan gives up kept blocks when that meets a deadline they block.
func TestReplanMovesBlocksToMeetADeadline(t *testing.T) {
	t.Parallel()
	p := week(Task{ID: "old", Title: "Old", Minutes: 120, Due: at(4, 17, 0)})
	p.Working = weekdays(Range{At(9, 0), At(11, 0)})
	first := solve(t, p)
	p.Previous = blockList(first)
	p.Tasks = append(p.Tasks, Task{ID: "urgent", Title: "Urgent", Minutes: 120, Due: at(0, 11, 0)})
	r := solve(t, p)
	require.Equal(t, []string{"urgent Mon 09:00-11:00", "old Tue 09:00-11:00"}, blocks(r, paris))
	require.Equal(t, 1, r.Moved)
}

func blockList(r *Result) []Block {
	var out []Block
	for _, b := range r.Blocks {
		out = append(out, b.Block)
	}
	return out
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	p := week(
		Task{ID: "a", Minutes: 0},
		Task{ID: "b", Minutes: 30, Due: at(0, 9, 0), EarliestStart: at(1, 9, 0)},
		Task{ID: "c", Minutes: 30, DependsOn: []string{"d"}},
		Task{ID: "d", Minutes: 30, DependsOn: []string{"c"}},
		Task{ID: "e", Minutes: 180, MaxBlock: 60},
	)
	p.Working[time.Monday] = []Range{{At(9, 0), At(12, 0)}, {At(11, 0), At(13, 0)}}
	_, err := Solve(p)
	require.ErrorContains(t, err, "tasks[0].estimate_minutes must be positive")
	require.ErrorContains(t, err, "tasks[1].due_at is before earliest_start")
	require.ErrorContains(t, err, "tasks[2].depends_on forms a cycle: c → d → c")
	require.ErrorContains(t, err, "tasks[4].max_block_minutes is less than the estimate of a task that cannot be split")
	require.ErrorContains(t, err, "working_hours Monday[1]: 11:00-13:00 overlaps 09:00-12:00")
}
