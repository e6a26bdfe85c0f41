package planner

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
)

// BenchmarkPreview is a whole preview on a real database: read the
// preferences, 500 open tasks, 300 events and the current plan's blocks,
// then plan. Compare with the engine alone (BenchmarkSolve in schedule).
func BenchmarkPreview(b *testing.B) {
	for _, e := range dbtest.Engines() {
		b.Run(string(e), func(b *testing.B) { benchPreview(b, e) })
	}
}

func benchPreview(b *testing.B, e config.Engine) {
	now := time.Date(2025, 3, 10, 7, 30, 0, 0, time.UTC)
	tb := setupTB(b, e, now)
	p := defaultPreferences("Europe/Paris")
	p.WorkingHours, p.HorizonDays, p.BreakMinutes = everyDay("06:00", "24:00"), 28, 10
	p.FocusPeriods = everyDay("08:00", "12:00")
	if _, err := tb.s.SetPreferences(tb.ctx, p); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(500, 300))
	span := 28 * 24 * time.Hour
	for i := range 300 {
		s := now.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(5 * time.Minute)
		in := EventInput{Title: fmt.Sprint("e", i), Start: s, End: s.Add(time.Duration(30+rng.IntN(3)*15) * time.Minute)}
		if i%3 == 0 {
			in.Location = "Campus"
		}
		if _, err := tb.s.CreateEvent(tb.ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 500 {
		in := TaskInput{Title: fmt.Sprint("t", i), EstimateMinutes: 15 * (1 + rng.IntN(3)),
			Priority: []string{"low", "medium", "medium", "high", "urgent"}[rng.IntN(5)]}
		if rng.IntN(5) > 0 {
			due := now.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Hour)
			in.DueAt = &due
		}
		if rng.IntN(5) < 2 {
			in.Splittable, in.MinBlockMinutes, in.MaxBlockMinutes = true, 15, 30
		}
		if _, err := tb.s.CreateTask(tb.ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := tb.s.Apply(tb.ctx, PlanParams{}); err != nil {
		b.Fatal(err)
	}
	var out *PlanOut
	for b.Loop() {
		var err error
		if out, err = tb.s.Preview(tb.ctx, PlanParams{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(out.Blocks)), "blocks")
	b.ReportMetric(float64(out.Moved), "moved")
}
