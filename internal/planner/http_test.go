package planner_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/app/apptest"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

type testBundle struct {
	*apptest.Bundle
	alice, bob apptest.User
}

func setup(t *testing.T, e config.Engine, env map[string]string) *testBundle {
	t.Helper()
	b := apptest.New(t, e, env, app.Options{})
	return &testBundle{Bundle: b, alice: b.NewUser(t), bob: b.NewUser(t)}
}

// post sends a body as alice and returns the response body.
func (b *testBundle) do(t *testing.T, method, path, body string, status int) string {
	t.Helper()
	return apitest.Scenario{Method: method, Path: path, Auth: b.alice.Token, Body: body, ExpectedStatus: status}.Test(t, b.H).Body
}

func (b *testBundle) task(t *testing.T, body string) string {
	t.Helper()
	return gjson.Get(b.do(t, "POST", "/api/v1/tasks", body, 201), "id").String()
}

// allDay makes every hour of every day working time in UTC, so plans do
// not depend on when the test runs.
const allDay = `{"timezone":"UTC","working_hours":{` +
	`"monday":[{"start":"00:00","end":"24:00"}],"tuesday":[{"start":"00:00","end":"24:00"}],"wednesday":[{"start":"00:00","end":"24:00"}],` +
	`"thursday":[{"start":"00:00","end":"24:00"}],"friday":[{"start":"00:00","end":"24:00"}],"saturday":[{"start":"00:00","end":"24:00"}],` +
	`"sunday":[{"start":"00:00","end":"24:00"}]},"allow_late":false,"auto_replan":false}`

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func TestTasksCRUDFiltersAndValidation(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		soon := time.Now().Add(48 * time.Hour).Truncate(time.Hour)
		essay := b.task(t, fmt.Sprintf(`{"title":"Essay","estimate_minutes":120,"due_at":%q,"tags":["writing","hist 101"],"course":"HIST 101","priority":"high"}`, rfc(soon)))
		quiz := b.task(t, `{"title":"Quiz prep","estimate_minutes":45,"tags":["math"],"course":"MATH 2"}`)
		read := b.task(t, fmt.Sprintf(`{"title":"Reading","estimate_minutes":60,"depends_on":[%q],"status":"in_progress"}`, quiz))
		done := b.task(t, `{"title":"Old","estimate_minutes":30,"status":"done"}`)
		path := "/api/v1/tasks/" + essay
		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "get", Method: "GET", Path: path, Auth: b.alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"title": "Essay", "priority": "high", "status": "todo", "tags.#": 2, "source": "api", "due_at": rfc(soon)}},
			{Name: "another user's task is not found", Method: "GET", Path: path, Auth: b.bob.Token, ExpectedStatus: 404},
			{Name: "no credentials", Method: "GET", Path: path, ExpectedStatus: 401},
			{Name: "by status", Method: "GET", Path: "/api/v1/tasks?status=todo,in_progress", Auth: b.alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 3}, NotExpected: []string{done}},
			{Name: "by tag", Method: "GET", Path: "/api/v1/tasks?tag=hist%20101", Auth: b.alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 1, "items.0.id": essay}},
			{Name: "by course", Method: "GET", Path: "/api/v1/tasks?course=MATH%202", Auth: b.alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 1, "items.0.id": quiz}},
			{Name: "by due range", Method: "GET", Path: "/api/v1/tasks?due_from=" + rfc(soon.Add(-time.Hour)) + "&due_to=" + rfc(soon.Add(time.Hour)),
				Auth: b.alice.Token, ExpectedStatus: 200, ExpectedJSON: map[string]any{"items.#": 1, "items.0.id": essay}},
			{Name: "bob sees none", Method: "GET", Path: "/api/v1/tasks", Auth: b.bob.Token, ExpectedStatus: 200, ExpectedJSON: map[string]any{"items.#": 0}},
			{Name: "unknown status", Method: "GET", Path: "/api/v1/tasks?status=later", Auth: b.alice.Token, ExpectedStatus: 422, ExpectedContent: []string{"query.status"}},
			{Name: "clear the due date with null", Method: "PATCH", Path: path, Auth: b.alice.Token, Body: `{"due_at":null,"notes":"outline first"}`,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"due_at": nil, "notes": "outline first", "title": "Essay"}},
			{Name: "patch by bob", Method: "PATCH", Path: path, Auth: b.bob.Token, Body: `{"title":"x"}`, ExpectedStatus: 404},
		})
		// Pages of two, newest first, cover every task once.
		var seen []string
		cursor := ""
		for range 5 {
			body := b.do(t, "GET", "/api/v1/tasks?limit=2&cursor="+cursor, "", 200)
			for _, id := range gjson.Get(body, "items.#.id").Array() {
				seen = append(seen, id.String())
			}
			if cursor = gjson.Get(body, "next_cursor").String(); cursor == "" {
				break
			}
		}
		require.Equal(t, []string{done, read, quiz, essay}, seen)

		b.do(t, "DELETE", "/api/v1/tasks/"+done, "", 204)
		b.do(t, "DELETE", "/api/v1/tasks/"+done, "", 404)
	})
}

func TestTaskValidationNamesFields(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		a := b.task(t, `{"title":"A","estimate_minutes":30}`)
		bt := b.task(t, fmt.Sprintf(`{"title":"B","estimate_minutes":30,"depends_on":[%q]}`, a))
		now := time.Now().UTC().Truncate(time.Minute)
		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "estimate must be positive", Method: "POST", Path: "/api/v1/tasks", Auth: b.alice.Token, Body: `{"title":"x","estimate_minutes":0}`,
				ExpectedStatus: 422, ExpectedContent: []string{`"location":"body.estimate_minutes"`},
				ExpectedHeaders: map[string]string{"Content-Type": "application/problem+json"}},
			{Name: "due before earliest start", Method: "POST", Path: "/api/v1/tasks", Auth: b.alice.Token,
				Body:           fmt.Sprintf(`{"title":"x","estimate_minutes":30,"due_at":%q,"earliest_start":%q}`, rfc(now), rfc(now.Add(time.Hour))),
				ExpectedStatus: 422, ExpectedContent: []string{`"location":"body.due_at"`, "is before earliest_start"}},
			{Name: "a cycle", Method: "PATCH", Path: "/api/v1/tasks/" + a, Auth: b.alice.Token, Body: fmt.Sprintf(`{"depends_on":[%q]}`, bt),
				ExpectedStatus: 422, ExpectedContent: []string{`"location":"body.depends_on"`, "forms a cycle"}},
			{Name: "depends on itself", Method: "PATCH", Path: "/api/v1/tasks/" + a, Auth: b.alice.Token, Body: fmt.Sprintf(`{"depends_on":[%q]}`, a),
				ExpectedStatus: 422, ExpectedContent: []string{`"location":"body.depends_on[0]"`, "the task itself"}},
			{Name: "depends on someone else's task", Method: "POST", Path: "/api/v1/tasks", Auth: b.bob.Token,
				Body: fmt.Sprintf(`{"title":"x","estimate_minutes":30,"depends_on":[%q]}`, a), ExpectedStatus: 422,
				ExpectedContent: []string{`"location":"body.depends_on[0]"`, "not one of your tasks"}},
			{Name: "a pinned block under the minimum", Method: "POST", Path: "/api/v1/tasks", Auth: b.alice.Token,
				Body: fmt.Sprintf(`{"title":"x","estimate_minutes":120,"splittable":true,"min_block_minutes":60,"pinned":[{"start":%q,"end":%q}]}`,
					rfc(now), rfc(now.Add(30*time.Minute))), ExpectedStatus: 422, ExpectedContent: []string{`"location":"body.pinned[0]"`, "shorter than"}},
			{Name: "an inverted window", Method: "POST", Path: "/api/v1/tasks", Auth: b.alice.Token,
				Body:           `{"title":"x","estimate_minutes":30,"preferred_windows":[{"weekday":"monday","start":"14:00","end":"09:00"}]}`,
				ExpectedStatus: 422, ExpectedContent: []string{`"location":"body.preferred_windows[0]"`, "ends before it starts"}},
			{Name: "too large for one block", Method: "POST", Path: "/api/v1/tasks", Auth: b.alice.Token,
				Body: `{"title":"x","estimate_minutes":180,"max_block_minutes":60}`, ExpectedStatus: 422, ExpectedContent: []string{`"location":"body.max_block_minutes"`}},
			{Name: "unknown priority", Method: "POST", Path: "/api/v1/tasks", Auth: b.alice.Token, Body: `{"title":"x","estimate_minutes":30,"priority":"asap"}`,
				ExpectedStatus: 422, ExpectedContent: []string{"body.priority"}},
			{Name: "a bad tag", Method: "POST", Path: "/api/v1/tasks", Auth: b.alice.Token, Body: `{"title":"x","estimate_minutes":30,"tags":["50%"]}`,
				ExpectedStatus: 422, ExpectedContent: []string{`"location":"body.tags[0]"`}},
			{Name: "one external id per source", Method: "POST", Path: "/api/v1/tasks", Auth: b.alice.Token,
				Body: `{"title":"x","estimate_minutes":30,"source":"canvas","external_id":"42"}`, ExpectedStatus: 201},
			{Name: "the same again", Method: "POST", Path: "/api/v1/tasks", Auth: b.alice.Token,
				Body: `{"title":"y","estimate_minutes":30,"source":"canvas","external_id":"42"}`, ExpectedStatus: 409},
		})
		// Nothing invalid was stored.
		require.Equal(t, int64(3), gjson.Get(b.do(t, "GET", "/api/v1/tasks", "", 200), "items.#").Int())
	})
}

func TestPreferences(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "defaults", Method: "GET", Path: "/api/v1/planner/preferences", Auth: b.alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"timezone": "UTC", "horizon_days": 14, "working_hours.monday.0.start": "09:00",
					"allow_late": true, "auto_replan": true}, NotExpected: []string{"saturday"}},
			{Name: "unknown zone", Method: "PUT", Path: "/api/v1/planner/preferences", Auth: b.alice.Token, Body: `{"timezone":"Mars/Olympus"}`,
				ExpectedStatus: 422, ExpectedContent: []string{`"location":"body.timezone"`}},
			{Name: "overlapping and inverted ranges", Method: "PUT", Path: "/api/v1/planner/preferences", Auth: b.alice.Token,
				Body: `{"timezone":"Europe/Paris","working_hours":{"monday":[{"start":"09:00","end":"12:00"},{"start":"11:00","end":"13:00"}],` +
					`"tuesday":[{"start":"17:00","end":"09:00"}]}}`,
				ExpectedStatus: 422, ExpectedContent: []string{`"location":"body.working_hours.monday[1]"`, "overlaps monday[0]",
					`"location":"body.working_hours.tuesday[0]"`, "ends before it starts"}},
			{Name: "a bad day off", Method: "PUT", Path: "/api/v1/planner/preferences", Auth: b.alice.Token, Body: `{"days_off":["25/12/2025"]}`,
				ExpectedStatus: 422, ExpectedContent: []string{`"location":"body.days_off[0]"`}},
			{Name: "save", Method: "PUT", Path: "/api/v1/planner/preferences", Auth: b.alice.Token,
				Body:           `{"timezone":"America/New_York","working_hours":{"saturday":[{"start":"10:00","end":"14:00"}]},"break_minutes":10,"daily_cap_minutes":300}`,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"timezone": "America/New_York", "horizon_days": 14, "break_minutes": 10}},
			{Name: "read back", Method: "GET", Path: "/api/v1/planner/preferences", Auth: b.alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"timezone": "America/New_York", "working_hours.saturday.0.end": "14:00", "daily_cap_minutes": 300},
				NotExpected:  []string{"monday"}},
			{Name: "bob still has defaults", Method: "GET", Path: "/api/v1/planner/preferences", Auth: b.bob.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"timezone": "UTC"}},
		})
	})
}

func TestCalendarEvents(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		day := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
		ev := func(h int, extra string) string {
			return fmt.Sprintf(`{"title":"e%d","start":%q,"end":%q%s}`, h, rfc(day.Add(time.Duration(h)*time.Hour)), rfc(day.Add(time.Duration(h+1)*time.Hour)), extra)
		}
		first := gjson.Get(b.do(t, "POST", "/api/v1/calendar/events", ev(9, `,"location":"Campus"`), 201), "id").String()
		b.do(t, "POST", "/api/v1/calendar/events", ev(13, `,"transparency":"free"`), 201)
		b.do(t, "POST", "/api/v1/calendar/events", ev(30, ""), 201)
		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "inverted", Method: "POST", Path: "/api/v1/calendar/events", Auth: b.alice.Token,
				Body: fmt.Sprintf(`{"start":%q,"end":%q}`, rfc(day.Add(time.Hour)), rfc(day)), ExpectedStatus: 422, ExpectedContent: []string{`"location":"body.end"`}},
			{Name: "a day's events", Method: "GET", Path: "/api/v1/calendar/events?from=" + rfc(day) + "&to=" + rfc(day.Add(24*time.Hour)),
				Auth: b.alice.Token, ExpectedStatus: 200, ExpectedJSON: map[string]any{"items.#": 2, "items.0.location": "Campus", "items.1.transparency": "free"}},
			{Name: "pages", Method: "GET", Path: "/api/v1/calendar/events?limit=2", Auth: b.alice.Token, ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"items.#": 2}, ExpectedContent: []string{"next_cursor"}},
			{Name: "move", Method: "PATCH", Path: "/api/v1/calendar/events/" + first, Auth: b.alice.Token,
				Body: fmt.Sprintf(`{"start":%q,"end":%q}`, rfc(day.Add(8*time.Hour)), rfc(day.Add(10*time.Hour))), ExpectedStatus: 200,
				ExpectedJSON: map[string]any{"start": rfc(day.Add(8 * time.Hour)), "location": "Campus"}},
			{Name: "bob cannot see it", Method: "GET", Path: "/api/v1/calendar/events/" + first, Auth: b.bob.Token, ExpectedStatus: 404},
			{Name: "bob cannot delete it", Method: "DELETE", Path: "/api/v1/calendar/events/" + first, Auth: b.bob.Token, ExpectedStatus: 404},
			{Name: "delete", Method: "DELETE", Path: "/api/v1/calendar/events/" + first, Auth: b.alice.Token, ExpectedStatus: 204},
		})
		body := b.do(t, "GET", "/api/v1/calendar/events?limit=1", "", 200)
		next := gjson.Get(body, "next_cursor").String()
		body = b.do(t, "GET", "/api/v1/calendar/events?limit=1&cursor="+next, "", 200)
		require.Equal(t, "e30", gjson.Get(body, "items.0.title").String())
	})
}

// The whole loop over HTTP: preview, apply, lock, a new meeting, re-plan.
func TestScheduleFlow(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, nil)
		b.do(t, "PUT", "/api/v1/planner/preferences", allDay, 200)
		now := time.Now().UTC()
		soon := now.Add(90 * time.Minute)
		// Both start in an hour, so no block is under way (and so fixed)
		// while the test runs.
		first := b.task(t, fmt.Sprintf(`{"title":"First","estimate_minutes":60,"due_at":%q,"priority":"urgent","earliest_start":%q}`,
			rfc(now.Add(6*time.Hour)), rfc(now.Add(time.Hour))))
		second := b.task(t, fmt.Sprintf(`{"title":"Second","estimate_minutes":90,"due_at":%q,"earliest_start":%q}`,
			rfc(now.Add(12*time.Hour)), rfc(now.Add(time.Hour))))
		late := b.task(t, fmt.Sprintf(`{"title":"Impossible","estimate_minutes":240,"due_at":%q}`, rfc(soon)))

		preview := b.do(t, "POST", "/api/v1/schedule/preview", `{}`, 200)
		require.Equal(t, []string{first, second}, ids(preview, "blocks.#.task_id"))
		require.Contains(t, gjson.Get(preview, "blocks.0.why").String(), "before its due date")
		require.Equal(t, late, gjson.Get(preview, "unscheduled.0.task_id").String())
		require.Equal(t, "no_room_before_due", gjson.Get(preview, "unscheduled.0.reason").String())
		require.Equal(t, int64(1), gjson.Get(preview, "missed_deadlines").Int())
		require.Empty(t, gjson.Get(preview, "blocks.0.id").String(), "a preview stores nothing")
		require.Equal(t, int64(0), gjson.Get(b.do(t, "GET", "/api/v1/schedule", "", 200), "blocks.#").Int())

		applied := b.do(t, "POST", "/api/v1/schedule/apply", `{}`, 200)
		require.Equal(t, gjson.Get(preview, "blocks.#.start").String(), gjson.Get(applied, "blocks.#.start").String(), "apply stores what preview showed")
		stored := b.do(t, "GET", "/api/v1/schedule?from="+rfc(now.Add(-time.Hour))+"&to="+rfc(now.Add(24*time.Hour)), "", 200)
		require.Equal(t, []string{first, second}, ids(stored, "blocks.#.task_id"))
		require.Equal(t, "no_room_before_due", gjson.Get(stored, "unscheduled.0.reason").String())
		firstBlock, secondBlock := gjson.Get(stored, "blocks.0.id").String(), gjson.Get(stored, "blocks.1.id").String()
		firstStart := gjson.Get(stored, "blocks.0.start").String()

		// Applying again changes nothing: every block still fits.
		again := b.do(t, "POST", "/api/v1/schedule/apply", `{}`, 200)
		require.Equal(t, int64(0), gjson.Get(again, "moved").Int())
		require.Equal(t, []string{firstBlock, secondBlock}, ids(again, "blocks.#.id"))

		// Lock the second block, then a meeting lands on the first one.
		b.do(t, "PATCH", "/api/v1/schedule/blocks/"+secondBlock, `{"locked":true}`, 200)
		start, _ := time.Parse(time.RFC3339, firstStart)
		b.do(t, "POST", "/api/v1/calendar/events", fmt.Sprintf(`{"title":"Meeting","start":%q,"end":%q}`, rfc(start), rfc(start.Add(30*time.Minute))), 201)
		replanned := b.do(t, "POST", "/api/v1/schedule/apply", `{}`, 200)
		require.Equal(t, int64(1), gjson.Get(replanned, "moved").Int())
		var secondNow, firstNow gjson.Result
		for _, bl := range gjson.Get(replanned, "blocks").Array() {
			switch bl.Get("task_id").String() {
			case second:
				secondNow = bl
			case first:
				firstNow = bl
			}
		}
		require.Equal(t, secondBlock, secondNow.Get("id").String(), "the locked block stays")
		require.True(t, secondNow.Get("locked").Bool())
		require.NotEqual(t, firstStart, firstNow.Get("start").String(), "the block under the meeting moved")

		apitest.Run(t, b.H, []apitest.Scenario{
			{Name: "a move under the task's size", Method: "PATCH", Path: "/api/v1/schedule/blocks/" + secondBlock, Auth: b.alice.Token,
				Body: fmt.Sprintf(`{"start":%q,"end":%q}`, rfc(now.Add(20*time.Hour)), rfc(now.Add(20*time.Hour+15*time.Minute))), ExpectedStatus: 422,
				ExpectedContent: []string{`"location":"body.end"`, "cannot be split"}},
			{Name: "a move onto another block", Method: "PATCH", Path: "/api/v1/schedule/blocks/" + secondBlock, Auth: b.alice.Token,
				Body: fmt.Sprintf(`{"start":%q}`, firstNow.Get("start").String()), ExpectedStatus: 409},
			{Name: "bob cannot touch it", Method: "PATCH", Path: "/api/v1/schedule/blocks/" + secondBlock, Auth: b.bob.Token, Body: `{"done":true}`, ExpectedStatus: 404},
			{Name: "a move locks it", Method: "PATCH", Path: "/api/v1/schedule/blocks/" + secondBlock, Auth: b.alice.Token,
				Body:           fmt.Sprintf(`{"start":%q,"locked":false}`, rfc(now.Add(20*time.Hour).Truncate(15*time.Minute))),
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"locked": false, "end": rfc(now.Add(20 * time.Hour).Truncate(15 * time.Minute).Add(90 * time.Minute))}},
			{Name: "mark done", Method: "PATCH", Path: "/api/v1/schedule/blocks/" + secondBlock, Auth: b.alice.Token, Body: `{"done":true}`,
				ExpectedStatus: 200, ExpectedJSON: map[string]any{"done": true}},
			{Name: "a scope that ends before it starts", Method: "POST", Path: "/api/v1/schedule/preview", Auth: b.alice.Token,
				Body: fmt.Sprintf(`{"from":%q,"to":%q}`, rfc(now.Add(5*time.Hour)), rfc(now.Add(4*time.Hour))), ExpectedStatus: 422,
				ExpectedContent: []string{`"location":"body.to"`}},
		})
		// A done block counts: re-planning keeps it and places nothing more for its task.
		final := b.do(t, "POST", "/api/v1/schedule/apply", `{}`, 200)
		count := 0
		for _, bl := range gjson.Get(final, "blocks").Array() {
			if bl.Get("task_id").String() == second {
				count++
				require.True(t, bl.Get("done").Bool())
			}
		}
		require.Equal(t, 1, count)

		// Deleting a task removes its blocks.
		b.do(t, "DELETE", "/api/v1/tasks/"+first, "", 204)
		require.NotContains(t, b.do(t, "GET", "/api/v1/schedule", "", 200), first)
	})
}

func ids(body, path string) []string {
	var out []string
	for _, r := range gjson.Get(body, path).Array() {
		out = append(out, r.String())
	}
	return out
}

// Changes re-plan in the background once they settle.
func TestBackgroundReplan(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t, e, map[string]string{"PULSE_PLANNER_DEBOUNCE": "100ms"})
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		require.NoError(t, b.App.StartQueue(ctx))
		b.do(t, "PUT", "/api/v1/planner/preferences", strings.Replace(allDay, `"auto_replan":false`, `"auto_replan":true`, 1), 200)
		// It starts in two hours so that the block is not under way when the
		// meeting arrives (a block under way is never moved).
		task := b.task(t, fmt.Sprintf(`{"title":"Read","estimate_minutes":45,"earliest_start":%q}`, rfc(time.Now().Add(2*time.Hour))))
		var body string
		require.Eventually(t, func() bool {
			body = b.do(t, "GET", "/api/v1/schedule", "", 200)
			return gjson.Get(body, "blocks.0.task_id").String() == task && !gjson.Get(body, "replan_pending").Bool()
		}, 20*time.Second, 50*time.Millisecond, "the new task was never planned")
		start := gjson.Get(body, "blocks.0.start").String()
		at, _ := time.Parse(time.RFC3339, start)

		// A meeting over the block moves it, without anyone asking.
		b.do(t, "POST", "/api/v1/calendar/events", fmt.Sprintf(`{"start":%q,"end":%q}`, rfc(at), rfc(at.Add(time.Hour))), 201)
		require.Eventually(t, func() bool {
			body = b.do(t, "GET", "/api/v1/schedule", "", 200)
			return gjson.Get(body, "blocks.#").Int() == 1 && gjson.Get(body, "blocks.0.start").String() != start && !gjson.Get(body, "replan_pending").Bool()
		}, 20*time.Second, 50*time.Millisecond, "the block under the meeting never moved")
		moved, _ := time.Parse(time.RFC3339, gjson.Get(body, "blocks.0.start").String())
		require.False(t, moved.Before(at.Add(time.Hour)), "it moved after the meeting")
	})
}
