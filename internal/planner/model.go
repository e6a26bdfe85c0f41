// Package planner is PulsePlan's core: tasks, planning preferences, busy
// time on the calendar, and the schedule the engine in planner/schedule
// builds from them. It validates input, keeps the current plan and
// re-plans in the background when something it depends on changes.
package planner

import (
	"time"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/db"
)

// Task statuses and priorities.
const (
	StatusTodo       = "todo"
	StatusInProgress = "in_progress"
	StatusDone       = "done"
	StatusCancelled  = "cancelled"
)

var (
	statuses     = []string{StatusTodo, StatusInProgress, StatusDone, StatusCancelled}
	openStatuses = []string{StatusTodo, StatusInProgress} // statuses that still need time
	priorities   = []string{"low", "medium", "high", "urgent"}
)

// Window is a weekly time range: {"weekday": "tuesday", "start": "14:00", "end": "17:00"}.
type Window struct {
	Weekday string `json:"weekday" enum:"monday,tuesday,wednesday,thursday,friday,saturday,sunday"`
	Start   string `json:"start" pattern:"^([01][0-9]|2[0-3]):[0-5][0-9]$" example:"14:00"`
	End     string `json:"end" pattern:"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$" example:"17:00"`
}

// Interval is a stretch of absolute time.
type Interval struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Task is work to schedule.
type Task struct {
	bun.BaseModel `bun:"table:planner_tasks"`

	ID               string              `bun:"id,pk"`
	OwnerID          string              `bun:"owner_id,notnull"`
	Title            string              `bun:"title,notnull"`
	Notes            string              `bun:"notes,notnull"`
	EstimateMinutes  int                 `bun:"estimate_minutes,notnull"`
	DueAt            *time.Time          `bun:"due_at"`
	EarliestStart    *time.Time          `bun:"earliest_start"`
	Priority         string              `bun:"priority,notnull"`
	Status           string              `bun:"status,notnull"`
	Tags             db.JSON[[]string]   `bun:"tags,type:text,notnull"`
	Course           string              `bun:"course,notnull"`
	Source           string              `bun:"source,notnull"`
	ExternalID       string              `bun:"external_id,notnull"`
	DependsOn        db.JSON[[]string]   `bun:"depends_on,type:text,notnull"`
	MinBlockMinutes  int                 `bun:"min_block_minutes,notnull"`
	MaxBlockMinutes  int                 `bun:"max_block_minutes,notnull"`
	Splittable       bool                `bun:"splittable,notnull"`
	MaxSplits        int                 `bun:"max_splits,notnull"`
	PreferredWindows db.JSON[[]Window]   `bun:"preferred_windows,type:text,notnull"`
	AvoidWindows     db.JSON[[]Window]   `bun:"avoid_windows,type:text,notnull"`
	Pinned           db.JSON[[]Interval] `bun:"pinned,type:text,notnull"`
	CreatedAt        time.Time           `bun:"created_at,notnull"`
	UpdatedAt        time.Time           `bun:"updated_at,notnull"`
}

// Event is busy (or free) time on the user's calendar.
type Event struct {
	bun.BaseModel `bun:"table:calendar_events"`

	ID           string    `bun:"id,pk"`
	OwnerID      string    `bun:"owner_id,notnull"`
	Title        string    `bun:"title,notnull"`
	StartAt      time.Time `bun:"start_at,notnull"`
	EndAt        time.Time `bun:"end_at,notnull"`
	AllDay       bool      `bun:"all_day,notnull"`
	Transparency string    `bun:"transparency,notnull"` // busy or free
	Location     string    `bun:"location,notnull"`
	Source       string    `bun:"source,notnull"`
	ExternalID   string    `bun:"external_id,notnull"`
	CreatedAt    time.Time `bun:"created_at,notnull"`
	UpdatedAt    time.Time `bun:"updated_at,notnull"`
}

// Block is a task's time in the applied schedule.
type Block struct {
	bun.BaseModel `bun:"table:schedule_blocks"`

	ID          string    `bun:"id,pk"`
	OwnerID     string    `bun:"owner_id,notnull"`
	TaskID      string    `bun:"task_id,notnull"`
	StartAt     time.Time `bun:"start_at,notnull"`
	EndAt       time.Time `bun:"end_at,notnull"`
	Locked      bool      `bun:"locked,notnull"` // the re-planner never moves it
	Done        bool      `bun:"done,notnull"`
	Explanation string    `bun:"explanation,notnull"`
	CreatedAt   time.Time `bun:"created_at,notnull"`
	UpdatedAt   time.Time `bun:"updated_at,notnull"`
}

// Plan is what the last applied plan could not do, per user, and whether
// a re-plan is pending.
type Plan struct {
	bun.BaseModel `bun:"table:planner_plans"`

	OwnerID     string                    `bun:"owner_id,pk"`
	Preferences db.JSON[*Preferences]     `bun:"preferences,type:text"` // nil: defaults
	Unscheduled db.JSON[[]UnscheduledOut] `bun:"unscheduled,type:text,notnull"`
	AtRisk      db.JSON[[]AtRiskOut]      `bun:"at_risk,type:text,notnull"`
	PlannedAt   *time.Time                `bun:"planned_at"`
	ChangedAt   *time.Time                `bun:"changed_at"`       // a change since the plan, not yet re-planned
	Revision    int                       `bun:"revision,notnull"` // bumped by every change to the stored blocks
	UpdatedAt   time.Time                 `bun:"updated_at,notnull"`
}
