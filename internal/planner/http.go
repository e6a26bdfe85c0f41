package planner

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/pulse-run/pulse/internal/platform/httpx"
)

var bearer = []map[string][]string{{"bearer": {}}, {"oauth2": {}}}

// TaskOut is a task.
type TaskOut struct {
	ID               string     `json:"id"`
	Title            string     `json:"title"`
	Notes            string     `json:"notes"`
	EstimateMinutes  int        `json:"estimate_minutes"`
	DueAt            *time.Time `json:"due_at"`
	EarliestStart    *time.Time `json:"earliest_start"`
	Priority         string     `json:"priority"`
	Status           string     `json:"status"`
	Tags             []string   `json:"tags"`
	Course           string     `json:"course"`
	Source           string     `json:"source"`
	ExternalID       string     `json:"external_id"`
	DependsOn        []string   `json:"depends_on"`
	MinBlockMinutes  int        `json:"min_block_minutes"`
	MaxBlockMinutes  int        `json:"max_block_minutes"`
	Splittable       bool       `json:"splittable"`
	MaxSplits        int        `json:"max_splits"`
	PreferredWindows []Window   `json:"preferred_windows"`
	AvoidWindows     []Window   `json:"avoid_windows"`
	Pinned           []Interval `json:"pinned"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
}

func taskOut(t *Task) TaskOut {
	return TaskOut{ID: t.ID, Title: t.Title, Notes: t.Notes, EstimateMinutes: t.EstimateMinutes, DueAt: t.DueAt, EarliestStart: t.EarliestStart,
		Priority: t.Priority, Status: t.Status, Tags: nonNil(t.Tags.V), Course: t.Course, Source: t.Source, ExternalID: t.ExternalID,
		DependsOn: nonNil(t.DependsOn.V), MinBlockMinutes: t.MinBlockMinutes, MaxBlockMinutes: t.MaxBlockMinutes, Splittable: t.Splittable,
		MaxSplits: t.MaxSplits, PreferredWindows: nonNil(t.PreferredWindows.V), AvoidWindows: nonNil(t.AvoidWindows.V),
		Pinned: nonNil(t.Pinned.V), CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

// EventOut is a calendar event.
type EventOut struct {
	ID           string    `json:"id"`
	Title        string    `json:"title"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	AllDay       bool      `json:"all_day"`
	Transparency string    `json:"transparency"`
	Location     string    `json:"location"`
	Source       string    `json:"source"`
	ExternalID   string    `json:"external_id"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func eventOut(e *Event) EventOut {
	return EventOut{ID: e.ID, Title: e.Title, Start: e.StartAt, End: e.EndAt, AllDay: e.AllDay, Transparency: e.Transparency,
		Location: e.Location, Source: e.Source, ExternalID: e.ExternalID, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt}
}

// PreferencesInput replaces the preferences; omitted fields take defaults.
type PreferencesInput struct {
	Timezone            string    `json:"timezone,omitempty" maxLength:"64" doc:"IANA zone; default the profile's"`
	WorkingHours        WeekHours `json:"working_hours,omitempty" doc:"default Monday to Friday 09:00-17:00"`
	FocusPeriods        WeekHours `json:"focus_periods,omitempty"`
	BreakMinutes        int       `json:"break_minutes,omitempty" minimum:"0" maximum:"240"`
	EventBufferMinutes  int       `json:"event_buffer_minutes,omitempty" minimum:"0" maximum:"240"`
	TravelBufferMinutes *int      `json:"travel_buffer_minutes,omitempty" minimum:"0" maximum:"480" doc:"default 15"`
	DailyCapMinutes     int       `json:"daily_cap_minutes,omitempty" minimum:"0" maximum:"1440"`
	DaysOff             []string  `json:"days_off,omitempty" maxItems:"366"`
	HorizonDays         *int      `json:"horizon_days,omitempty" minimum:"1" maximum:"90" doc:"default 14"`
	AllowLate           *bool     `json:"allow_late,omitempty" doc:"default true"`
	MinBlockMinutes     *int      `json:"min_block_minutes,omitempty" minimum:"15" maximum:"480" doc:"default 30"`
	MaxBlockMinutes     *int      `json:"max_block_minutes,omitempty" minimum:"0" maximum:"1440" doc:"default 120; 0: no limit"`
	AutoReplan          *bool     `json:"auto_replan,omitempty" doc:"default true"`
}

type taskBody struct{ Body TaskOut }

type taskIDInput struct {
	ID string `path:"id" maxLength:"64"`
}

type taskListInput struct {
	Status  string    `query:"status" doc:"comma-separated statuses" example:"todo,in_progress"`
	DueFrom time.Time `query:"due_from"`
	DueTo   time.Time `query:"due_to"`
	Tag     string    `query:"tag" maxLength:"40"`
	Course  string    `query:"course" maxLength:"200"`
	Cursor  string    `query:"cursor" maxLength:"64"`
	Limit   int       `query:"limit" minimum:"0" maximum:"100"`
}

type taskListOutput struct {
	Body struct {
		Items      []TaskOut `json:"items"`
		NextCursor string    `json:"next_cursor,omitempty"`
	}
}

type eventBody struct{ Body EventOut }

type eventListInput struct {
	From   time.Time `query:"from"`
	To     time.Time `query:"to"`
	Cursor string    `query:"cursor" maxLength:"120"`
	Limit  int       `query:"limit" minimum:"0" maximum:"500"`
}

type eventListOutput struct {
	Body struct {
		Items      []EventOut `json:"items"`
		NextCursor string     `json:"next_cursor,omitempty"`
	}
}

type planInput struct {
	Body struct {
		From  *time.Time `json:"from,omitempty" doc:"re-plan only from here (default now)"`
		To    *time.Time `json:"to,omitempty" doc:"re-plan only up to here (default the horizon's end)"`
		Fresh bool       `json:"fresh,omitempty" doc:"plan the range from scratch instead of keeping blocks that still fit"`
	}
}

type planOutput struct{ Body *PlanOut }

func ptr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Register adds the planner's operations.
func Register(v1 *httpx.API, s *Service) {
	registerTasks(v1, s)
	registerEvents(v1, s)
	registerSchedule(v1, s)
}

func registerTasks(v1 *httpx.API, s *Service) {
	tag := []string{"Planner"}
	httpx.Register(v1, huma.Operation{OperationID: "create-task", Method: http.MethodPost, Path: "/tasks", Tags: tag,
		Summary: "Create a task", Description: "The schedule is re-planned in the background when auto_replan is on.",
		DefaultStatus: http.StatusCreated, Security: bearer},
		func(ctx context.Context, in *struct{ Body TaskInput }) (*taskBody, error) {
			t, err := s.CreateTask(ctx, in.Body)
			if err != nil {
				return nil, err
			}
			return &taskBody{taskOut(t)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "list-tasks", Method: http.MethodGet, Path: "/tasks", Tags: tag,
		Summary: "Your tasks, newest first", Description: "Filter by status, due range, tag or course; page with next_cursor.", Security: bearer},
		func(ctx context.Context, in *taskListInput) (*taskListOutput, error) {
			f := TaskFilter{DueFrom: ptr(in.DueFrom), DueTo: ptr(in.DueTo), Tag: in.Tag, Course: in.Course, Cursor: in.Cursor, Limit: in.Limit}
			if in.Status != "" {
				f.Status = strings.Split(in.Status, ",")
			}
			ts, next, err := s.Tasks(ctx, f)
			if err != nil {
				return nil, err
			}
			out := &taskListOutput{}
			out.Body.Items, out.Body.NextCursor = make([]TaskOut, len(ts)), next
			for i := range ts {
				out.Body.Items[i] = taskOut(&ts[i])
			}
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "get-task", Method: http.MethodGet, Path: "/tasks/{id}", Tags: tag,
		Summary: "A task", Security: bearer},
		func(ctx context.Context, in *taskIDInput) (*taskBody, error) {
			t, err := s.Task(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			return &taskBody{taskOut(t)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "update-task", Method: http.MethodPatch, Path: "/tasks/{id}", Tags: tag,
		Summary: "Change a task", Description: "Absent fields stay; null clears (due_at, earliest_start…).", Security: bearer},
		func(ctx context.Context, in *struct {
			ID   string `path:"id" maxLength:"64"`
			Body TaskPatch
		}) (*taskBody, error) {
			t, err := s.UpdateTask(ctx, in.ID, in.Body)
			if err != nil {
				return nil, err
			}
			return &taskBody{taskOut(t)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "delete-task", Method: http.MethodDelete, Path: "/tasks/{id}", Tags: tag,
		Summary: "Delete a task and its blocks", DefaultStatus: http.StatusNoContent, Security: bearer},
		func(ctx context.Context, in *taskIDInput) (*struct{}, error) {
			return nil, s.DeleteTask(ctx, in.ID)
		})
	httpx.Register(v1, huma.Operation{OperationID: "get-planner-preferences", Method: http.MethodGet, Path: "/planner/preferences", Tags: tag,
		Summary: "Your planning preferences", Security: bearer},
		func(ctx context.Context, _ *struct{}) (*struct{ Body *Preferences }, error) {
			p, err := s.Preferences(ctx)
			return &struct{ Body *Preferences }{p}, err
		})
	httpx.Register(v1, huma.Operation{OperationID: "set-planner-preferences", Method: http.MethodPut, Path: "/planner/preferences", Tags: tag,
		Summary: "Replace your planning preferences", Description: "Omitted fields take their defaults. Bad ranges answer 422 naming the weekday and index.",
		Security: bearer},
		func(ctx context.Context, in *struct{ Body PreferencesInput }) (*struct{ Body *Preferences }, error) {
			p, err := s.SetPreferences(ctx, in.Body.preferences())
			return &struct{ Body *Preferences }{p}, err
		})
}

// preferences fills what the input left out.
func (in PreferencesInput) preferences() *Preferences {
	d := defaultPreferences("UTC")
	p := &Preferences{Timezone: in.Timezone, WorkingHours: in.WorkingHours, FocusPeriods: in.FocusPeriods, BreakMinutes: in.BreakMinutes,
		EventBufferMinutes: in.EventBufferMinutes, TravelBufferMinutes: or(in.TravelBufferMinutes, d.TravelBufferMinutes),
		DailyCapMinutes: in.DailyCapMinutes, DaysOff: in.DaysOff, HorizonDays: or(in.HorizonDays, d.HorizonDays), AllowLate: or(in.AllowLate, d.AllowLate),
		MinBlockMinutes: or(in.MinBlockMinutes, d.MinBlockMinutes), MaxBlockMinutes: or(in.MaxBlockMinutes, d.MaxBlockMinutes),
		AutoReplan: or(in.AutoReplan, d.AutoReplan)}
	empty := true
	for _, d := range p.WorkingHours.days() {
		empty = empty && len(*d) == 0
	}
	if empty {
		p.WorkingHours = d.WorkingHours
	}
	return p
}

// or is *v, or def when v is nil.
func or[T any](v *T, def T) T {
	if v == nil {
		return def
	}
	return *v
}

func registerEvents(v1 *httpx.API, s *Service) {
	tag := []string{"Planner"}
	httpx.Register(v1, huma.Operation{OperationID: "create-calendar-event", Method: http.MethodPost, Path: "/calendar/events", Tags: tag,
		Summary: "Add busy time", Description: "Events with transparency busy block planning; those with a location get travel buffers.",
		DefaultStatus: http.StatusCreated, Security: bearer},
		func(ctx context.Context, in *struct{ Body EventInput }) (*eventBody, error) {
			e, err := s.CreateEvent(ctx, in.Body)
			if err != nil {
				return nil, err
			}
			return &eventBody{eventOut(e)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "list-calendar-events", Method: http.MethodGet, Path: "/calendar/events", Tags: tag,
		Summary: "Your events overlapping a range, by start", Security: bearer},
		func(ctx context.Context, in *eventListInput) (*eventListOutput, error) {
			es, next, err := s.Events(ctx, EventFilter{From: ptr(in.From), To: ptr(in.To), Cursor: in.Cursor, Limit: in.Limit})
			if err != nil {
				return nil, err
			}
			out := &eventListOutput{}
			out.Body.Items, out.Body.NextCursor = make([]EventOut, len(es)), next
			for i := range es {
				out.Body.Items[i] = eventOut(&es[i])
			}
			return out, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "get-calendar-event", Method: http.MethodGet, Path: "/calendar/events/{id}", Tags: tag,
		Summary: "An event", Security: bearer},
		func(ctx context.Context, in *taskIDInput) (*eventBody, error) {
			e, err := s.Event(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			return &eventBody{eventOut(e)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "update-calendar-event", Method: http.MethodPatch, Path: "/calendar/events/{id}", Tags: tag,
		Summary: "Change an event", Security: bearer},
		func(ctx context.Context, in *struct {
			ID   string `path:"id" maxLength:"64"`
			Body EventPatch
		}) (*eventBody, error) {
			e, err := s.UpdateEvent(ctx, in.ID, in.Body)
			if err != nil {
				return nil, err
			}
			return &eventBody{eventOut(e)}, nil
		})
	httpx.Register(v1, huma.Operation{OperationID: "delete-calendar-event", Method: http.MethodDelete, Path: "/calendar/events/{id}", Tags: tag,
		Summary: "Delete an event", DefaultStatus: http.StatusNoContent, Security: bearer},
		func(ctx context.Context, in *taskIDInput) (*struct{}, error) {
			return nil, s.DeleteEvent(ctx, in.ID)
		})
}

func registerSchedule(v1 *httpx.API, s *Service) {
	tag := []string{"Planner"}
	httpx.Register(v1, huma.Operation{OperationID: "preview-schedule", Method: http.MethodPost, Path: "/schedule/preview", Tags: tag,
		Summary: "Propose a schedule", Description: "The blocks with an explanation each, the tasks left out with a reason, and those at risk. Nothing is stored.",
		Security: bearer},
		func(ctx context.Context, in *planInput) (*planOutput, error) {
			p, err := s.Preview(ctx, PlanParams{From: in.Body.From, To: in.Body.To, Fresh: in.Body.Fresh})
			return &planOutput{p}, err
		})
	httpx.Register(v1, huma.Operation{OperationID: "apply-schedule", Method: http.MethodPost, Path: "/schedule/apply", Tags: tag,
		Summary: "Plan and store the schedule", Description: "Locked, done and past blocks never move; blocks that still fit stay unless moving them meets more deadlines.",
		Security: bearer},
		func(ctx context.Context, in *planInput) (*planOutput, error) {
			p, err := s.Apply(ctx, PlanParams{From: in.Body.From, To: in.Body.To, Fresh: in.Body.Fresh})
			return &planOutput{p}, err
		})
	httpx.Register(v1, huma.Operation{OperationID: "get-schedule", Method: http.MethodGet, Path: "/schedule", Tags: tag,
		Summary: "The stored schedule of a range", Security: bearer},
		func(ctx context.Context, in *struct {
			From time.Time `query:"from"`
			To   time.Time `query:"to"`
		}) (*struct{ Body *ScheduleOut }, error) {
			out, err := s.Schedule(ctx, in.From, in.To)
			return &struct{ Body *ScheduleOut }{out}, err
		})
	httpx.Register(v1, huma.Operation{OperationID: "update-schedule-block", Method: http.MethodPatch, Path: "/schedule/blocks/{id}", Tags: tag,
		Summary: "Lock, move or mark a block done", Security: bearer},
		func(ctx context.Context, in *struct {
			ID   string `path:"id" maxLength:"64"`
			Body BlockPatch
		}) (*struct{ Body *BlockOut }, error) {
			b, err := s.UpdateBlock(ctx, in.ID, in.Body)
			return &struct{ Body *BlockOut }{b}, err
		})
}
