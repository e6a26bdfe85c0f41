package planner

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/pulse-run/pulse/internal/planner/schedule"
	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/ids"
)

// PlanParams scopes a plan.
type PlanParams struct {
	// From and To limit the re-plan to a range (one day, say): blocks
	// outside stay, and new blocks go inside. Nil: the whole horizon.
	From, To *time.Time
	// Fresh re-plans the range from scratch instead of keeping the blocks
	// that still fit.
	Fresh bool
}

// BlockOut is a block of a plan.
type BlockOut struct {
	ID     string    `json:"id,omitempty" doc:"empty in a preview for a block not applied yet"`
	TaskID string    `json:"task_id"`
	Title  string    `json:"title"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Locked bool      `json:"locked"`
	Done   bool      `json:"done"`
	Kept   bool      `json:"kept" doc:"unchanged from the current plan"`
	Part   int       `json:"part,omitempty" doc:"which of the task's blocks in this plan, from 1"`
	Of     int       `json:"of,omitempty"`
	Why    string    `json:"why"`
}

// UnscheduledOut is a task the plan leaves out, with why.
type UnscheduledOut struct {
	TaskID string `json:"task_id"`
	Title  string `json:"title"`
	Reason string `json:"reason" enum:"no_room_before_due,no_room_in_horizon,daily_cap,dependency_unscheduled,starts_after_horizon"`
	Detail string `json:"detail"`
}

// AtRiskOut is a task planned to finish after its due date.
type AtRiskOut struct {
	TaskID string    `json:"task_id"`
	Title  string    `json:"title"`
	ETA    time.Time `json:"eta"`
	DueAt  time.Time `json:"due_at"`
}

// PlanOut is a schedule: proposed by a preview, stored by apply.
type PlanOut struct {
	From        time.Time        `json:"from" doc:"the range planned"`
	To          time.Time        `json:"to"`
	Blocks      []BlockOut       `json:"blocks"`
	Unscheduled []UnscheduledOut `json:"unscheduled"`
	AtRisk      []AtRiskOut      `json:"at_risk"`
	Kept        int              `json:"kept" doc:"current blocks left where they were"`
	Moved       int              `json:"moved" doc:"current blocks moved or removed"`
	Missed      int              `json:"missed_deadlines" doc:"tasks that will not be done by their due date"`
}

// gathered is everything one plan is built from.
type gathered struct {
	owner    string
	now      time.Time
	revision int
	params   schedule.Params
	tasks    map[string]*Task
	movable  []Block // the current plan's blocks the engine may move
	fixed    []Block // blocks it builds around
	stale    []Block // future blocks of tasks no longer open: removed on apply
	pinned   []Block // pinned times not stored as blocks yet
	from, to time.Time
}

var errStale = errors.New("planner: the plan changed while it was computed")

func (s *Service) gather(ctx context.Context, owner string, pp PlanParams) (*gathered, error) {
	prefs, err := s.preferences(ctx, owner)
	if err != nil {
		return nil, err
	}
	c, err := prefs.compile()
	if err != nil {
		return nil, err
	}
	plan, err := s.store.plan(ctx, owner)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	end := now.Add(c.horizon)
	g := &gathered{owner: owner, now: now, revision: plan.Revision, tasks: map[string]*Task{}, from: now, to: end}
	if pp.From != nil {
		g.from = maxTime(now, pp.From.UTC())
	}
	if pp.To != nil {
		g.to = minTime(end, pp.To.UTC())
	}
	if !g.to.After(g.from) {
		return nil, apperr.InvalidField("body.to", "the range to plan must end after it starts, after now and within the horizon")
	}
	tasks, err := s.store.openTasks(ctx, owner)
	if err != nil {
		return nil, err
	}
	for i := range tasks {
		g.tasks[tasks[i].ID] = &tasks[i]
	}
	events, err := s.store.busy(ctx, owner, now.Add(-8*time.Hour), end.Add(8*time.Hour))
	if err != nil {
		return nil, err
	}
	blocks, err := s.store.planBlocks(ctx, owner, now)
	if err != nil {
		return nil, err
	}
	p := schedule.Params{Now: now, End: end, Location: c.loc, Working: c.working, Focus: c.focus, DaysOff: c.daysOff,
		Break: c.brk, DailyCap: c.cap, AllowLate: prefs.AllowLate, Fresh: pp.Fresh, Effort: s.effort}
	if pp.From != nil || pp.To != nil {
		p.ScopeStart, p.ScopeEnd = g.from, g.to
	}
	for _, e := range events {
		buf := c.buffer
		if e.Location != "" {
			buf = max(buf, c.travel)
		}
		p.Busy = append(p.Busy, schedule.Busy{Start: e.StartAt, End: e.EndAt, Buffer: buf})
	}
	for _, b := range blocks {
		t, isOpen := g.tasks[b.TaskID]
		switch {
		case !isOpen && !b.Locked && !b.Done && !b.StartAt.Before(now):
			g.stale = append(g.stale, b)
		case !isOpen:
			if b.EndAt.After(now) {
				g.fixed = append(g.fixed, b) // a locked block of a finished task still takes its time
				p.Fixed = append(p.Fixed, schedule.Block{TaskID: "", Start: b.StartAt, End: b.EndAt})
			}
		case b.Locked || b.Done || b.StartAt.Before(now):
			g.fixed = append(g.fixed, b)
			p.Fixed = append(p.Fixed, schedule.Block{TaskID: t.ID, Start: b.StartAt, End: b.EndAt})
		case b.StartAt.Before(g.from) || b.EndAt.After(g.to):
			// Outside the range being planned: it stays where it is.
			g.fixed = append(g.fixed, b)
			p.Fixed = append(p.Fixed, schedule.Block{TaskID: t.ID, Start: b.StartAt, End: b.EndAt})
		default:
			g.movable = append(g.movable, b)
			p.Previous = append(p.Previous, schedule.Block{TaskID: t.ID, Start: b.StartAt, End: b.EndAt})
		}
	}
	for i := range tasks { // by id, so the engine's ties break the same way every time
		t := &tasks[i]
		for _, pin := range t.Pinned.V {
			p.Fixed = append(p.Fixed, schedule.Block{TaskID: t.ID, Start: pin.Start, End: pin.End})
			if !slices.ContainsFunc(g.fixed, func(b Block) bool {
				return b.TaskID == t.ID && b.StartAt.Equal(pin.Start) && b.EndAt.Equal(pin.End)
			}) && pin.End.After(now) {
				g.pinned = append(g.pinned, Block{TaskID: t.ID, StartAt: pin.Start.UTC(), EndAt: pin.End.UTC(), Locked: true,
					Explanation: "Pinned by you: the planner builds around it."})
			}
		}
		p.Tasks = append(p.Tasks, engineTask(t, g.tasks, prefs))
	}
	g.params = p
	return g, nil
}

// engineTask is a task in the engine's terms, with preference defaults.
func engineTask(t *Task, open map[string]*Task, prefs *Preferences) schedule.Task {
	et := schedule.Task{ID: t.ID, Title: t.Title, Minutes: t.EstimateMinutes, Splittable: t.Splittable, MaxSplits: t.MaxSplits,
		Priority: map[string]schedule.Priority{"low": schedule.Low, "medium": schedule.Medium, "high": schedule.High, "urgent": schedule.Urgent}[t.Priority]}
	if t.DueAt != nil {
		et.Due = *t.DueAt
	}
	if t.EarliestStart != nil {
		et.EarliestStart = *t.EarliestStart
	}
	for _, d := range t.DependsOn.V {
		if _, ok := open[d]; ok {
			et.DependsOn = append(et.DependsOn, d) // finished or deleted dependencies are met
		}
	}
	if t.Splittable {
		et.MinBlock = cmp.Or(t.MinBlockMinutes, prefs.MinBlockMinutes)
		et.MaxBlock = cmp.Or(t.MaxBlockMinutes, prefs.MaxBlockMinutes)
		if et.MaxBlock > 0 && et.MaxBlock < et.MinBlock {
			et.MaxBlock = et.MinBlock
		}
	}
	for _, w := range t.PreferredWindows.V {
		if sw, err := toWindow(w); err == nil {
			et.Preferred = append(et.Preferred, sw)
		}
	}
	for _, w := range t.AvoidWindows.V {
		if sw, err := toWindow(w); err == nil {
			et.Avoid = append(et.Avoid, sw)
		}
	}
	return et
}

// solve runs the engine on what was gathered.
func (s *Service) solve(g *gathered) (*schedule.Result, *PlanOut, error) {
	r, err := schedule.Solve(g.params)
	if err != nil {
		return nil, nil, err
	}
	out := &PlanOut{From: g.from, To: g.to, Kept: r.Kept, Moved: r.Moved, Missed: r.Cost.Missed,
		Blocks: []BlockOut{}, Unscheduled: []UnscheduledOut{}, AtRisk: []AtRiskOut{}}
	type key struct {
		task string
		s, e int64
	}
	current := map[key]Block{}
	for _, b := range g.movable {
		current[key{b.TaskID, b.StartAt.Unix(), b.EndAt.Unix()}] = b
	}
	for _, b := range r.Blocks {
		bo := BlockOut{TaskID: b.TaskID, Title: g.tasks[b.TaskID].Title, Start: b.Start.UTC(), End: b.End.UTC(), Kept: b.Kept, Part: b.Part, Of: b.Of, Why: b.Why}
		if cur, ok := current[key{b.TaskID, b.Start.Unix(), b.End.Unix()}]; ok && b.Kept {
			bo.ID = cur.ID
		}
		out.Blocks = append(out.Blocks, bo)
	}
	for _, b := range append(slices.Clip(g.fixed), g.pinned...) {
		if !b.EndAt.After(g.now) || !b.EndAt.After(g.from) || !b.StartAt.Before(g.to) {
			continue
		}
		title := ""
		if t, ok := g.tasks[b.TaskID]; ok {
			title = t.Title
		}
		why := cmp.Or(b.Explanation, "Fixed: the planner never moves it.")
		if b.Locked {
			why = "Locked: the planner never moves it."
		}
		out.Blocks = append(out.Blocks, BlockOut{ID: b.ID, TaskID: b.TaskID, Title: title, Start: b.StartAt.UTC(), End: b.EndAt.UTC(),
			Locked: b.Locked, Done: b.Done, Kept: b.ID != "", Why: why})
	}
	slices.SortStableFunc(out.Blocks, func(a, b BlockOut) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.TaskID, b.TaskID))
	})
	for _, u := range r.Unscheduled {
		out.Unscheduled = append(out.Unscheduled, UnscheduledOut{TaskID: u.TaskID, Title: g.tasks[u.TaskID].Title, Reason: string(u.Reason), Detail: u.Detail})
	}
	for _, a := range r.AtRisk {
		out.AtRisk = append(out.AtRisk, AtRiskOut{TaskID: a.TaskID, Title: g.tasks[a.TaskID].Title, ETA: a.ETA.UTC(), DueAt: a.Due.UTC()})
	}
	return r, out, nil
}

// Preview proposes a plan without storing it.
func (s *Service) Preview(ctx context.Context, pp PlanParams) (*PlanOut, error) {
	owner, err := reader(ctx)
	if err != nil {
		return nil, err
	}
	g, err := s.gather(ctx, owner, pp)
	if err != nil {
		return nil, err
	}
	_, out, err := s.solve(g)
	return out, err
}

// Apply computes a plan and stores it.
func (s *Service) Apply(ctx context.Context, pp PlanParams) (*PlanOut, error) {
	owner, err := writer(ctx)
	if err != nil {
		return nil, err
	}
	return s.apply(ctx, owner, pp)
}

// apply stores a plan, computing it again if another plan or a block
// edit landed in between (at most a few times).
func (s *Service) apply(ctx context.Context, owner string, pp PlanParams) (*PlanOut, error) {
	for range 5 {
		g, err := s.gather(ctx, owner, pp)
		if err != nil {
			return nil, err
		}
		_, out, err := s.solve(g)
		if err != nil {
			return nil, err
		}
		rp := replaceParams{ownerID: owner, revision: g.revision, plannedAt: g.now,
			plan: &Plan{OwnerID: owner, Unscheduled: db.JSON[[]UnscheduledOut]{V: out.Unscheduled}, AtRisk: db.JSON[[]AtRiskOut]{V: out.AtRisk}}}
		keep := map[string]bool{}
		now := s.now().UTC()
		for i, b := range out.Blocks {
			switch {
			case b.ID != "":
				keep[b.ID] = true
			default:
				nb := Block{ID: ids.New(), OwnerID: owner, TaskID: b.TaskID, StartAt: b.Start, EndAt: b.End, Locked: b.Locked,
					Explanation: b.Why, CreatedAt: now, UpdatedAt: now}
				rp.add = append(rp.add, nb)
				out.Blocks[i].ID = nb.ID
			}
		}
		for _, b := range append(slices.Clip(g.movable), g.stale...) {
			if !keep[b.ID] {
				rp.remove = append(rp.remove, b.ID)
			}
		}
		switch err := s.store.replace(ctx, rp); {
		case errors.Is(err, errStale):
			continue
		case err != nil:
			return nil, err
		}
		return out, nil
	}
	return nil, apperr.New(apperr.Conflict, "the schedule keeps changing; try again")
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
