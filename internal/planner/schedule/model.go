package schedule

import "time"

// Priority is a task's weight in the objective: a late urgent task costs
// eight times a late low one per minute.
type Priority int

const (
	Low    Priority = 1
	Medium Priority = 2
	High   Priority = 4
	Urgent Priority = 8
)

// Window is a weekly local time range: "Tuesdays 14:00-17:00".
type Window struct {
	Weekday time.Weekday
	Range
}

// Task is work to place. Times are absolute; zero means "none".
type Task struct {
	ID            string
	Title         string // for explanations only
	Minutes       int    // the estimate still to place, before Fixed blocks are counted
	Due           time.Time
	EarliestStart time.Time
	Priority      Priority // zero counts as Medium
	DependsOn     []string // tasks that must finish first; unknown ids are taken as done
	MinBlock      int      // minutes; zero means one slot
	MaxBlock      int      // minutes; zero means no limit
	Splittable    bool
	MaxSplits     int // the most blocks a splittable task is cut into; zero means no limit
	Preferred     []Window
	Avoid         []Window
}

// Block is a task's time on the calendar.
type Block struct {
	TaskID     string
	Start, End time.Time
}

// Params is everything a schedule depends on. The engine reads nothing
// else, so equal Params give equal schedules.
type Params struct {
	Now        time.Time // nothing is placed before it
	Start, End time.Time // the horizon; Start defaults to Now
	Location   *time.Location
	Working    Week
	Focus      Week // preferred focus periods; empty means no preference
	DaysOff    []Date
	Busy       []Busy
	Break      time.Duration // kept free between two blocks
	DailyCap   time.Duration // the most block time per local day; zero means no cap
	AllowLate  bool          // place a task after its due date rather than leave it out

	Tasks []Task
	// Fixed blocks never move: locked, past or pinned ones, and in a scoped
	// re-plan everything outside the scope. They count toward their task.
	Fixed []Block
	// Previous is the current plan. Blocks still valid stay where they are
	// unless moving them meets more deadlines.
	Previous []Block
	// Fresh re-plans without keeping Previous blocks (inside the scope).
	Fresh bool
	// ScopeStart and ScopeEnd limit where blocks may be placed (a re-plan
	// of one day, say); zero means the whole horizon.
	ScopeStart, ScopeEnd time.Time
	// Effort bounds the improvement search in slot steps, so the result
	// does not depend on the machine's speed. Zero means DefaultEffort.
	Effort int
}

// DefaultEffort lets the search run a few milliseconds on a 500-task plan.
const DefaultEffort = 3_000_000

// Placed is a block in the result, with why it is there.
type Placed struct {
	Block
	Kept bool   // it is in Previous, unchanged
	Part int    // 1-based among the task's new or kept blocks
	Of   int    // how many there are
	Why  string // a sentence for the user
}

// Reason says why a task was left out.
type Reason string

const (
	NoRoomBeforeDue     Reason = "no_room_before_due"
	NoRoomInHorizon     Reason = "no_room_in_horizon"
	DailyCapReached     Reason = "daily_cap"
	DependencyNotPlaced Reason = "dependency_unscheduled"
	StartsAfterHorizon  Reason = "starts_after_horizon"
)

// Unscheduled is a task the engine could not place.
type Unscheduled struct {
	TaskID string
	Reason Reason
	Detail string
}

// AtRisk is a task placed to finish after its due date.
type AtRisk struct {
	TaskID string
	ETA    time.Time
	Due    time.Time
}

// Result is a schedule.
type Result struct {
	Blocks      []Placed // in time order; Fixed blocks are not repeated
	Unscheduled []Unscheduled
	AtRisk      []AtRisk
	Cost        Cost
	Kept        int // Previous blocks (inside the scope) left where they were
	Moved       int // Previous blocks (inside the scope) moved or removed
	Evaluations int // schedules built by the search
}
