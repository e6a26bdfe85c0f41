package planner

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pulse-run/pulse/internal/planner/schedule"
	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/httpx"
	"github.com/pulse-run/pulse/internal/platform/ids"
)

// TaskInput creates a task; zero values take defaults.
type TaskInput struct {
	Title            string     `json:"title" minLength:"1" maxLength:"300"`
	Notes            string     `json:"notes,omitempty" maxLength:"20000"`
	EstimateMinutes  int        `json:"estimate_minutes" doc:"the time it needs, in minutes"`
	DueAt            *time.Time `json:"due_at,omitempty"`
	EarliestStart    *time.Time `json:"earliest_start,omitempty" doc:"no block before this"`
	Priority         string     `json:"priority,omitempty" enum:"low,medium,high,urgent" doc:"default medium"`
	Status           string     `json:"status,omitempty" enum:"todo,in_progress,done,cancelled" doc:"default todo"`
	Tags             []string   `json:"tags,omitempty" maxItems:"20"`
	Course           string     `json:"course,omitempty" maxLength:"200"`
	Source           string     `json:"source,omitempty" maxLength:"40" doc:"where it came from (api, canvas, notion…); default api"`
	ExternalID       string     `json:"external_id,omitempty" maxLength:"200" doc:"its id there; unique per source"`
	DependsOn        []string   `json:"depends_on,omitempty" maxItems:"50" doc:"tasks that must be finished first"`
	MinBlockMinutes  int        `json:"min_block_minutes,omitempty" doc:"smallest block when split; 0: the preference"`
	MaxBlockMinutes  int        `json:"max_block_minutes,omitempty" doc:"largest block when split; 0: the preference"`
	Splittable       bool       `json:"splittable,omitempty"`
	MaxSplits        int        `json:"max_splits,omitempty" doc:"the most blocks it is cut into; 0: no limit"`
	PreferredWindows []Window   `json:"preferred_windows,omitempty" maxItems:"50"`
	AvoidWindows     []Window   `json:"avoid_windows,omitempty" maxItems:"50"`
	Pinned           []Interval `json:"pinned,omitempty" maxItems:"50" doc:"times fixed for it by hand; the planner builds around them"`
}

// TaskPatch changes a task: absent fields stay, null clears.
type TaskPatch struct {
	Title            httpx.Patch[string]     `json:"title,omitempty"`
	Notes            httpx.Patch[string]     `json:"notes,omitempty"`
	EstimateMinutes  httpx.Patch[int]        `json:"estimate_minutes,omitempty"`
	DueAt            httpx.Patch[time.Time]  `json:"due_at,omitempty"`
	EarliestStart    httpx.Patch[time.Time]  `json:"earliest_start,omitempty"`
	Priority         httpx.Patch[string]     `json:"priority,omitempty"`
	Status           httpx.Patch[string]     `json:"status,omitempty"`
	Tags             httpx.Patch[[]string]   `json:"tags,omitempty"`
	Course           httpx.Patch[string]     `json:"course,omitempty"`
	Source           httpx.Patch[string]     `json:"source,omitempty"`
	ExternalID       httpx.Patch[string]     `json:"external_id,omitempty"`
	DependsOn        httpx.Patch[[]string]   `json:"depends_on,omitempty"`
	MinBlockMinutes  httpx.Patch[int]        `json:"min_block_minutes,omitempty"`
	MaxBlockMinutes  httpx.Patch[int]        `json:"max_block_minutes,omitempty"`
	Splittable       httpx.Patch[bool]       `json:"splittable,omitempty"`
	MaxSplits        httpx.Patch[int]        `json:"max_splits,omitempty"`
	PreferredWindows httpx.Patch[[]Window]   `json:"preferred_windows,omitempty"`
	AvoidWindows     httpx.Patch[[]Window]   `json:"avoid_windows,omitempty"`
	Pinned           httpx.Patch[[]Interval] `json:"pinned,omitempty"`
}

// CreateTask validates and stores a task, then re-plans.
func (s *Service) CreateTask(ctx context.Context, in TaskInput) (*Task, error) {
	owner, err := writer(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	t := &Task{ID: ids.New(), OwnerID: owner, Title: in.Title, Notes: in.Notes, EstimateMinutes: in.EstimateMinutes,
		DueAt: utc(in.DueAt), EarliestStart: utc(in.EarliestStart), Priority: cmp.Or(in.Priority, "medium"), Status: cmp.Or(in.Status, StatusTodo),
		Tags: db.JSON[[]string]{V: in.Tags}, Course: in.Course, Source: cmp.Or(in.Source, "api"), ExternalID: in.ExternalID,
		DependsOn: db.JSON[[]string]{V: in.DependsOn}, MinBlockMinutes: in.MinBlockMinutes, MaxBlockMinutes: in.MaxBlockMinutes,
		Splittable: in.Splittable, MaxSplits: in.MaxSplits, PreferredWindows: db.JSON[[]Window]{V: in.PreferredWindows},
		AvoidWindows: db.JSON[[]Window]{V: in.AvoidWindows}, Pinned: db.JSON[[]Interval]{V: in.Pinned}, CreatedAt: now, UpdatedAt: now}
	if err := s.checkTask(ctx, t); err != nil {
		return nil, err
	}
	if err := s.store.insertTask(ctx, t); err != nil {
		return nil, err
	}
	return t, s.touch(ctx, owner)
}

// Task returns one of the caller's tasks.
func (s *Service) Task(ctx context.Context, id string) (*Task, error) {
	owner, err := reader(ctx)
	if err != nil {
		return nil, err
	}
	return s.store.task(ctx, owner, id)
}

// Tasks lists the caller's tasks, newest first, a page at a time.
func (s *Service) Tasks(ctx context.Context, f TaskFilter) ([]Task, string, error) {
	owner, err := reader(ctx)
	if err != nil {
		return nil, "", err
	}
	for _, st := range f.Status {
		if !slices.Contains(statuses, st) {
			return nil, "", apperr.InvalidField("query.status", fmt.Sprintf("%q is not a status", st))
		}
	}
	if f.Tag != "" && !tagPattern.MatchString(f.Tag) {
		return nil, "", apperr.InvalidField("query.tag", "is not a valid tag")
	}
	if f.DueFrom != nil && f.DueTo != nil && !f.DueTo.After(*f.DueFrom) {
		return nil, "", apperr.InvalidField("query.due_to", "is not after due_from")
	}
	if f.Limit <= 0 || f.Limit > 100 {
		f.Limit = 50
	}
	limit := f.Limit
	f.Limit++
	out, err := s.store.tasks(ctx, owner, f)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}

// UpdateTask applies a patch, validates the result like a new task, and
// re-plans.
func (s *Service) UpdateTask(ctx context.Context, id string, p TaskPatch) (*Task, error) {
	owner, err := writer(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.store.task(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	t.Title = p.Title.Or(t.Title)
	t.Notes = p.Notes.Or(t.Notes)
	t.EstimateMinutes = p.EstimateMinutes.Or(t.EstimateMinutes)
	t.DueAt = patchTime(p.DueAt, t.DueAt)
	t.EarliestStart = patchTime(p.EarliestStart, t.EarliestStart)
	t.Priority = cmp.Or(p.Priority.Or(t.Priority), "medium")
	t.Status = cmp.Or(p.Status.Or(t.Status), StatusTodo)
	t.Tags.V = p.Tags.Or(t.Tags.V)
	t.Course = p.Course.Or(t.Course)
	t.Source = cmp.Or(p.Source.Or(t.Source), "api")
	t.ExternalID = p.ExternalID.Or(t.ExternalID)
	t.DependsOn.V = p.DependsOn.Or(t.DependsOn.V)
	t.MinBlockMinutes = p.MinBlockMinutes.Or(t.MinBlockMinutes)
	t.MaxBlockMinutes = p.MaxBlockMinutes.Or(t.MaxBlockMinutes)
	t.Splittable = p.Splittable.Or(t.Splittable)
	t.MaxSplits = p.MaxSplits.Or(t.MaxSplits)
	t.PreferredWindows.V = p.PreferredWindows.Or(t.PreferredWindows.V)
	t.AvoidWindows.V = p.AvoidWindows.Or(t.AvoidWindows.V)
	t.Pinned.V = p.Pinned.Or(t.Pinned.V)
	t.UpdatedAt = s.now().UTC()
	if err := s.checkTask(ctx, t); err != nil {
		return nil, err
	}
	if err := s.store.updateTask(ctx, t); err != nil {
		return nil, err
	}
	return t, s.touch(ctx, owner)
}

// DeleteTask deletes a task and its blocks, then re-plans.
func (s *Service) DeleteTask(ctx context.Context, id string) error {
	owner, err := writer(ctx)
	if err != nil {
		return err
	}
	if err := s.store.deleteTask(ctx, owner, id); err != nil {
		return err
	}
	return s.touch(ctx, owner)
}

var tagPattern = regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N} .:/+#&-]{0,39}$`)

// checkTask validates a task as a whole, naming every problem by its
// path in the request body.
func (s *Service) checkTask(ctx context.Context, t *Task) error {
	var fs []apperr.FieldError
	add := func(path, format string, args ...any) {
		fs = append(fs, apperr.FieldError{Path: "body." + path, Message: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(t.Title) == "" || len(t.Title) > 300 {
		add("title", "must be 1 to 300 characters")
	}
	if t.EstimateMinutes <= 0 || t.EstimateMinutes > 100_000 {
		add("estimate_minutes", "must be a positive number of minutes")
	}
	if t.DueAt != nil && t.EarliestStart != nil && t.DueAt.Before(*t.EarliestStart) {
		add("due_at", "is before earliest_start")
	}
	if !slices.Contains(priorities, t.Priority) {
		add("priority", "must be one of %s", strings.Join(priorities, ", "))
	}
	if !slices.Contains(statuses, t.Status) {
		add("status", "must be one of %s", strings.Join(statuses, ", "))
	}
	for i, tag := range t.Tags.V {
		if !tagPattern.MatchString(tag) {
			add(fmt.Sprintf("tags[%d]", i), "must be 1 to 40 letters, digits, spaces or .:/+#&-")
		}
	}
	if t.MinBlockMinutes < 0 || t.MaxBlockMinutes < 0 || t.MaxSplits < 0 {
		add("min_block_minutes", "block sizes and max_splits must not be negative")
	}
	if t.MaxBlockMinutes > 0 && t.MinBlockMinutes > t.MaxBlockMinutes {
		add("max_block_minutes", "is smaller than min_block_minutes")
	}
	if !t.Splittable && t.MaxBlockMinutes > 0 && t.EstimateMinutes > t.MaxBlockMinutes {
		add("max_block_minutes", "is less than the estimate of a task that cannot be split")
	}
	for _, f := range []struct {
		name string
		ws   []Window
	}{{"preferred_windows", t.PreferredWindows.V}, {"avoid_windows", t.AvoidWindows.V}} {
		name := f.name
		for i, w := range f.ws {
			if _, err := toWindow(w); err != nil {
				add(fmt.Sprintf("%s[%d]", name, i), "%v", err)
			}
		}
	}
	pinned := 0
	for i, p := range t.Pinned.V {
		d := p.End.Sub(p.Start)
		switch {
		case d <= 0:
			add(fmt.Sprintf("pinned[%d]", i), "ends before it starts")
		case d < time.Duration(t.MinBlockMinutes)*time.Minute:
			add(fmt.Sprintf("pinned[%d]", i), "is shorter than the task's min_block_minutes (%d)", t.MinBlockMinutes)
		}
		pinned += int(d / time.Minute)
		for j := range i {
			if o := t.Pinned.V[j]; p.Start.Before(o.End) && o.Start.Before(p.End) {
				add(fmt.Sprintf("pinned[%d]", i), "overlaps pinned[%d]", j)
			}
		}
	}
	if pinned > t.EstimateMinutes && t.EstimateMinutes > 0 {
		add("pinned", "holds more time than the estimate")
	}
	if err := s.checkDependencies(ctx, t, add); err != nil {
		return err
	}
	if len(fs) > 0 {
		return &apperr.Error{Code: apperr.Invalid, Message: "the task is not valid", Fields: fs}
	}
	return nil
}

// checkDependencies: each must be another of the owner's tasks, and the
// graph must stay acyclic.
func (s *Service) checkDependencies(ctx context.Context, t *Task, add func(path, format string, args ...any)) error {
	deps := t.DependsOn.V
	if len(deps) == 0 {
		return nil
	}
	found, err := s.store.existing(ctx, t.OwnerID, deps)
	if err != nil {
		return err
	}
	bad := false
	for i, d := range deps {
		switch _, ok := found[d]; {
		case d == t.ID:
			add(fmt.Sprintf("depends_on[%d]", i), "is the task itself")
			bad = true
		case !ok:
			add(fmt.Sprintf("depends_on[%d]", i), "is not one of your tasks")
			bad = true
		case slices.Index(deps, d) < i:
			add(fmt.Sprintf("depends_on[%d]", i), "is listed twice")
			bad = true
		}
	}
	if bad {
		return nil
	}
	graph, err := s.store.dependencies(ctx, t.OwnerID)
	if err != nil {
		return err
	}
	graph[t.ID] = deps
	if c := schedule.FindCycle(graph); c != nil && slices.Contains(c, t.ID) {
		add("depends_on", "forms a cycle: %s", strings.Join(c, " → "))
	}
	return nil
}

func toWindow(w Window) (schedule.Window, error) {
	d := slices.Index(weekdayNames[:], strings.ToLower(w.Weekday))
	a, ok1 := parseClock(w.Start)
	b, ok2 := parseClock(w.End)
	switch {
	case d < 0:
		return schedule.Window{}, fmt.Errorf("%q is not a weekday", w.Weekday)
	case !ok1 || !ok2:
		return schedule.Window{}, fmt.Errorf("start and end must be HH:MM")
	case a >= b:
		return schedule.Window{}, fmt.Errorf("%s-%s ends before it starts", w.Start, w.End)
	}
	return schedule.Window{Weekday: time.Weekday(d), Range: schedule.Range{Start: a, End: b}}, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func patchTime(p httpx.Patch[time.Time], old *time.Time) *time.Time {
	switch {
	case !p.Set:
		return old
	case p.Null:
		return nil
	}
	return utc(&p.Value)
}
