package planner

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
)

type testBundle struct {
	s   *Service
	ctx context.Context // signed in as the user
	now time.Time
}

// setup is a service on a real database of engine e with one user and a
// clock fixed at now.
func setup(t *testing.T, e config.Engine, now time.Time) *testBundle {
	t.Helper()
	return setupTB(t, e, now)
}

func setupTB(t testing.TB, e config.Engine, now time.Time) *testBundle {
	t.Helper()
	d := dbtest.Open(t, e)
	_, err := d.W.NewRaw("INSERT INTO users (id, email, role, active, created_at, updated_at) VALUES ('u', 'u@x.io', 'user', TRUE, ?, ?)",
		now, now).Exec(context.Background())
	require.NoError(t, err)
	b := &testBundle{now: now, ctx: authn.With(context.Background(), &authn.Principal{UserID: "u", Role: authn.RoleUser})}
	b.s = New(Params{DB: d, Now: func() time.Time { return b.now }})
	return b
}

func everyDay(start, end string) WeekHours {
	r := []TimeRange{{start, end}}
	return WeekHours{Monday: r, Tuesday: r, Wednesday: r, Thursday: r, Friday: r, Saturday: r, Sunday: r}
}

func prefs(zone string, w WeekHours) *Preferences {
	p := defaultPreferences(zone)
	p.WorkingHours, p.AllowLate, p.TravelBufferMinutes = w, false, 30
	return p
}

func (b *testBundle) starts(t *testing.T, out *PlanOut) []string {
	t.Helper()
	var got []string
	for _, bl := range out.Blocks {
		got = append(got, bl.Title+" "+bl.Start.Format(time.RFC3339)+"/"+bl.End.Format(time.RFC3339))
	}
	return got
}

// The DST case through the service: availability 01:00-05:00 in
// New York on 9 March 2025 is three hours.
func TestPlanAcrossDST(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		ny, _ := time.LoadLocation("America/New_York")
		b := setup(t, e, time.Date(2025, 3, 9, 0, 0, 0, 0, ny))
		_, err := b.s.SetPreferences(b.ctx, prefs("America/New_York", everyDay("01:00", "05:00")))
		require.NoError(t, err)
		due := time.Date(2025, 3, 9, 6, 0, 0, 0, ny)
		_, err = b.s.CreateTask(b.ctx, TaskInput{Title: "Fits", EstimateMinutes: 180, DueAt: &due})
		require.NoError(t, err)
		_, err = b.s.CreateTask(b.ctx, TaskInput{Title: "Too long", EstimateMinutes: 240, DueAt: &due, Priority: "low"})
		require.NoError(t, err)
		out, err := b.s.Apply(b.ctx, PlanParams{})
		require.NoError(t, err)
		require.Equal(t, []string{"Fits 2025-03-09T06:00:00Z/2025-03-09T09:00:00Z"}, b.starts(t, out))
		require.Len(t, out.Unscheduled, 1)
		require.Equal(t, "Too long", out.Unscheduled[0].Title)
		require.Equal(t, "no_room_before_due", out.Unscheduled[0].Reason)
	})
}

// Events with a location keep the travel buffer free; events marked free
// block nothing.
func TestPlanKeepsTravelBuffers(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, time.Date(2025, 6, 2, 8, 0, 0, 0, time.UTC))
		_, err := b.s.SetPreferences(b.ctx, prefs("UTC", everyDay("09:00", "17:00")))
		require.NoError(t, err)
		day := func(h, m int) time.Time { return time.Date(2025, 6, 2, h, m, 0, 0, time.UTC) }
		_, err = b.s.CreateEvent(b.ctx, EventInput{Title: "Dentist", Start: day(10, 30), End: day(11, 0), Location: "Main St"})
		require.NoError(t, err)
		_, err = b.s.CreateEvent(b.ctx, EventInput{Title: "Optional talk", Start: day(12, 0), End: day(13, 0), Transparency: "free"})
		require.NoError(t, err)
		for _, title := range []string{"A", "B"} {
			_, err = b.s.CreateTask(b.ctx, TaskInput{Title: title, EstimateMinutes: 60})
			require.NoError(t, err)
		}
		out, err := b.s.Preview(b.ctx, PlanParams{})
		require.NoError(t, err)
		// 09:00-10:00 fits before the 30-minute trip; after the dentist and
		// the trip back, 11:30.
		require.Equal(t, []string{"A 2025-06-02T09:00:00Z/2025-06-02T10:00:00Z", "B 2025-06-02T11:30:00Z/2025-06-02T12:30:00Z"}, b.starts(t, out))
	})
}

// A scoped re-plan moves only blocks inside the scope.
func TestPlanWithinAScope(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, time.Date(2025, 6, 2, 8, 0, 0, 0, time.UTC))
		_, err := b.s.SetPreferences(b.ctx, prefs("UTC", everyDay("09:00", "10:00")))
		require.NoError(t, err)
		for d := range 3 {
			es := time.Date(2025, 6, 2+d, 9, 0, 0, 0, time.UTC)
			_, err = b.s.CreateTask(b.ctx, TaskInput{Title: string(rune('A' + d)), EstimateMinutes: 60, EarliestStart: &es})
			require.NoError(t, err)
		}
		first, err := b.s.Apply(b.ctx, PlanParams{})
		require.NoError(t, err)
		require.Len(t, first.Blocks, 3)
		// Tuesday morning is taken; re-plan Tuesday only, from scratch.
		_, err = b.s.CreateEvent(b.ctx, EventInput{Start: time.Date(2025, 6, 3, 9, 0, 0, 0, time.UTC), End: time.Date(2025, 6, 3, 9, 30, 0, 0, time.UTC)})
		require.NoError(t, err)
		from, to := time.Date(2025, 6, 3, 0, 0, 0, 0, time.UTC), time.Date(2025, 6, 4, 0, 0, 0, 0, time.UTC)
		out, err := b.s.Apply(b.ctx, PlanParams{From: &from, To: &to, Fresh: true})
		require.NoError(t, err)
		require.Equal(t, 1, out.Moved)
		require.Equal(t, "no_room_in_horizon", out.Unscheduled[0].Reason, "B has no room left on Tuesday and may not leave the scope")
		require.Contains(t, out.Unscheduled[0].Detail, "the range being planned")
		sched, err := b.s.Schedule(b.ctx, time.Time{}, time.Time{})
		require.NoError(t, err)
		var titles []string
		for _, bl := range sched.Blocks {
			titles = append(titles, bl.Title+" "+bl.Start.Format("Mon 15:04"))
		}
		require.Equal(t, []string{"A Mon 09:00", "C Wed 09:00"}, titles, "Monday and Wednesday did not move")
	})
}
