package planner

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/ids"
)

type storeBundle struct {
	ctx   context.Context
	st    *store
	d     *db.DB
	alice string
	bob   string
	now   time.Time
}

func setupStore(t *testing.T, d *db.DB) *storeBundle {
	t.Helper()
	b := &storeBundle{ctx: context.Background(), st: &store{db: d}, d: d, now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	b.alice, b.bob = b.user(t, "alice"), b.user(t, "bob")
	return b
}

// user inserts a user; the subtests share one database, so emails are unique.
func (b *storeBundle) user(t *testing.T, name string) string {
	t.Helper()
	id := ids.New()
	_, err := b.d.W.NewRaw("INSERT INTO users (id, email, created_at, updated_at) VALUES (?, ?, ?, ?)", id, name+"-"+id+"@example.com", b.now, b.now).Exec(b.ctx)
	require.NoError(t, err)
	return id
}

func (b *storeBundle) task(t *testing.T, owner, title string, edit func(*Task)) *Task {
	t.Helper()
	tk := &Task{ID: ids.New(), OwnerID: owner, Title: title, EstimateMinutes: 60, Priority: "medium", Status: StatusTodo, Source: "api",
		CreatedAt: b.now, UpdatedAt: b.now}
	if edit != nil {
		edit(tk)
	}
	require.NoError(t, b.st.insertTask(b.ctx, tk))
	return tk
}

func titles(ts []Task) []string {
	out := []string{}
	for _, t := range ts {
		out = append(out, t.Title)
	}
	return out
}

// The planner store's contract, the same on every engine: JSON columns
// round-trip, another owner's rows are NotFound, filters and pages are
// SQL's, and a plan computed from an outdated revision is refused.
func TestStoreConformance(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Run("task round trip", func(t *testing.T) {
			b := setupStore(t, d)
			due := b.now.Add(48 * time.Hour)
			in := b.task(t, b.alice, "Essay", func(tk *Task) {
				tk.DueAt, tk.Tags, tk.Course = &due, db.JSON[[]string]{V: []string{"writing", "hist-101"}}, "HIST 101"
				tk.PreferredWindows = db.JSON[[]Window]{V: []Window{{Weekday: "tuesday", Start: "14:00", End: "17:00"}}}
				tk.Pinned = db.JSON[[]Interval]{V: []Interval{{Start: b.now, End: b.now.Add(time.Hour)}}}
			})
			got, err := b.st.task(b.ctx, b.alice, in.ID)
			require.NoError(t, err)
			require.Equal(t, []string{"writing", "hist-101"}, got.Tags.V)
			require.Equal(t, in.PreferredWindows.V, got.PreferredWindows.V)
			require.Len(t, got.Pinned.V, 1)
			require.True(t, b.now.Equal(got.Pinned.V[0].Start))
			require.True(t, due.Equal(*got.DueAt))
			require.Empty(t, got.DependsOn.V, "no dependencies are stored as []")
			require.Empty(t, got.AvoidWindows.V)

			_, err = b.st.task(b.ctx, b.bob, in.ID)
			require.True(t, apperr.Is(err, apperr.NotFound), "another owner's task: %v", err)
			got.OwnerID = b.bob
			require.True(t, apperr.Is(b.st.updateTask(b.ctx, got), apperr.NotFound), "nor can another owner update it")
			require.True(t, apperr.Is(b.st.deleteTask(b.ctx, b.bob, in.ID), apperr.NotFound), "or delete it")
		})
		t.Run("task external ids are unique per source", func(t *testing.T) {
			b := setupStore(t, d)
			b.task(t, b.alice, "From Canvas", func(tk *Task) { tk.Source, tk.ExternalID = "canvas", "a1" })
			err := b.st.insertTask(b.ctx, &Task{ID: ids.New(), OwnerID: b.alice, Title: "Again", Priority: "medium", Status: StatusTodo,
				Source: "canvas", ExternalID: "a1", CreatedAt: b.now, UpdatedAt: b.now})
			require.True(t, apperr.Is(err, apperr.Conflict), "%v", err)
			b.task(t, b.bob, "Bob's", func(tk *Task) { tk.Source, tk.ExternalID = "canvas", "a1" })
			b.task(t, b.alice, "Manual one", nil)
			b.task(t, b.alice, "Manual two", nil) // no external id: no conflict
		})
		t.Run("task filters", func(t *testing.T) {
			b := setupStore(t, d)
			soon, later := b.now.Add(24*time.Hour), b.now.Add(10*24*time.Hour)
			first := b.task(t, b.alice, "Read", func(tk *Task) { tk.DueAt, tk.Tags = &soon, db.JSON[[]string]{V: []string{"reading"}} })
			second := b.task(t, b.alice, "Lab", func(tk *Task) { tk.DueAt, tk.Course, tk.Status = &later, "CHEM 1", StatusDone })
			third := b.task(t, b.alice, "Plan", func(tk *Task) {
				tk.Status, tk.DependsOn = StatusInProgress, db.JSON[[]string]{V: []string{first.ID}}
			})
			b.task(t, b.bob, "Not Alice's", nil)
			list := func(f TaskFilter) []string {
				t.Helper()
				if f.Limit == 0 {
					f.Limit = 20
				}
				ts, err := b.st.tasks(b.ctx, b.alice, f)
				require.NoError(t, err)
				return titles(ts)
			}
			require.Equal(t, []string{"Plan", "Lab", "Read"}, list(TaskFilter{}), "the owner's, newest first")
			require.Equal(t, []string{"Plan", "Read"}, list(TaskFilter{Status: openStatuses}))
			require.Equal(t, []string{"Read"}, list(TaskFilter{Tag: "reading"}))
			require.Equal(t, []string{"Lab"}, list(TaskFilter{Course: "CHEM 1"}))
			to := b.now.Add(48 * time.Hour)
			require.Equal(t, []string{"Read"}, list(TaskFilter{DueTo: &to}))
			require.Equal(t, []string{"Lab"}, list(TaskFilter{DueFrom: &to}))
			require.Equal(t, []string{"Plan", "Lab"}, list(TaskFilter{Limit: 2}))
			require.Equal(t, []string{"Lab", "Read"}, list(TaskFilter{Cursor: third.ID}))

			open, err := b.st.openTasks(b.ctx, b.alice)
			require.NoError(t, err)
			require.Equal(t, []string{"Read", "Plan"}, titles(open), "open tasks, oldest first")
			have, err := b.st.existing(b.ctx, b.alice, []string{first.ID, second.ID, ids.New()})
			require.NoError(t, err)
			require.Len(t, have, 2)
			deps, err := b.st.dependencies(b.ctx, b.alice)
			require.NoError(t, err)
			require.Equal(t, []string{first.ID}, deps[third.ID])
			require.Empty(t, deps[first.ID])
		})
		t.Run("events", func(t *testing.T) {
			b := setupStore(t, d)
			at := func(h int) time.Time { return b.now.Add(time.Duration(h) * time.Hour) }
			var made []*Event
			for i, h := range []int{1, 3, 3, 8} {
				e := &Event{ID: ids.New(), OwnerID: b.alice, Title: string(rune('A' + i)), StartAt: at(h), EndAt: at(h + 1), Transparency: "busy",
					Source: "api", CreatedAt: b.now, UpdatedAt: b.now}
				if i == 3 {
					e.Transparency = "free"
				}
				require.NoError(t, b.st.insertEvent(b.ctx, e))
				made = append(made, e)
			}
			names := func(es []Event) []string {
				out := []string{}
				for _, e := range es {
					out = append(out, e.Title)
				}
				return out
			}
			from, to := at(2), at(9)
			es, err := b.st.events(b.ctx, b.alice, EventFilter{From: &from, To: &to, Limit: 2})
			require.NoError(t, err)
			require.Equal(t, []string{"B", "C"}, names(es), "overlapping [from, to), by start then id")
			last := es[len(es)-1]
			es, err = b.st.events(b.ctx, b.alice, EventFilter{Cursor: last.StartAt.Format(time.RFC3339Nano) + "|" + last.ID, Limit: 10})
			require.NoError(t, err)
			require.Equal(t, []string{"D"}, names(es), "the next page starts after the cursor")
			_, err = b.st.events(b.ctx, b.alice, EventFilter{Cursor: "garbage", Limit: 10})
			require.True(t, apperr.Is(err, apperr.Invalid), "%v", err)
			busy, err := b.st.busy(b.ctx, b.alice, at(0), at(24))
			require.NoError(t, err)
			require.Equal(t, []string{"A", "B", "C"}, names(busy), "free time is not busy")

			made[0].Title = "A2"
			require.NoError(t, b.st.updateEvent(b.ctx, made[0]))
			got, err := b.st.event(b.ctx, b.alice, made[0].ID)
			require.NoError(t, err)
			require.Equal(t, "A2", got.Title)
			_, err = b.st.event(b.ctx, b.bob, made[0].ID)
			require.True(t, apperr.Is(err, apperr.NotFound))
			theirs := *made[0]
			theirs.OwnerID = b.bob
			require.True(t, apperr.Is(b.st.updateEvent(b.ctx, &theirs), apperr.NotFound))
		})
		t.Run("plans and blocks", func(t *testing.T) {
			b := setupStore(t, d)
			p, err := b.st.plan(b.ctx, b.alice)
			require.NoError(t, err)
			require.Zero(t, p.Revision, "no plan yet is an empty plan, not an error")
			prefs := &Preferences{Timezone: "Europe/Berlin", BreakMinutes: 10, DaysOff: []string{"2026-03-06"}}
			require.NoError(t, b.st.savePreferences(b.ctx, b.alice, prefs, b.now))
			p, err = b.st.plan(b.ctx, b.alice)
			require.NoError(t, err)
			require.Equal(t, prefs, p.Preferences.V)

			tk := b.task(t, b.alice, "Study", nil)
			block := Block{ID: ids.New(), OwnerID: b.alice, TaskID: tk.ID, StartAt: b.now.Add(time.Hour), EndAt: b.now.Add(2 * time.Hour),
				Explanation: "before the deadline", CreatedAt: b.now, UpdatedAt: b.now}
			plan := &Plan{Unscheduled: db.JSON[[]UnscheduledOut]{V: nil}, AtRisk: db.JSON[[]AtRiskOut]{V: nil}}
			require.NoError(t, b.st.replace(b.ctx, replaceParams{ownerID: b.alice, revision: p.Revision, plannedAt: b.now, add: []Block{block}, plan: plan}))
			require.ErrorIs(t, b.st.replace(b.ctx, replaceParams{ownerID: b.alice, revision: p.Revision, plannedAt: b.now, plan: plan}), errStale,
				"a plan computed from the old revision is refused")
			blocks, err := b.st.blocks(b.ctx, b.alice, time.Time{}, time.Time{})
			require.NoError(t, err)
			require.Len(t, blocks, 1)
			require.Equal(t, "before the deadline", blocks[0].Explanation)
			p, err = b.st.plan(b.ctx, b.alice)
			require.NoError(t, err)
			require.Equal(t, 1, p.Revision)
			require.NotNil(t, p.Unscheduled.V, "an empty list is stored as [] and read back as a list")

			gone := Block{ID: ids.New(), OwnerID: b.alice, TaskID: ids.New(), StartAt: b.now, EndAt: b.now.Add(time.Hour), CreatedAt: b.now, UpdatedAt: b.now}
			require.ErrorIs(t, b.st.replace(b.ctx, replaceParams{ownerID: b.alice, revision: 1, plannedAt: b.now, add: []Block{gone}, plan: plan}), errStale,
				"a block of a task deleted meanwhile")

			require.NoError(t, b.st.deleteTask(b.ctx, b.alice, tk.ID))
			blocks, err = b.st.blocks(b.ctx, b.alice, time.Time{}, time.Time{})
			require.NoError(t, err)
			require.Empty(t, blocks, "a task's blocks go with it")
		})
	})
}
