package schedule

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchParams is a heavily loaded month: 06:00-24:00 every day, mornings
// preferred for focus, ten-minute breaks, the given number of calendar
// events of 30 to 60 minutes (a third with 20-minute travel buffers) and
// tasks of 15 to 45 minutes: four in five due within the four weeks, two
// in five splittable, one in ten depending on another. With 500 tasks
// and 300 events the work slightly exceeds the free time, so deadlines
// compete; 5,000 tasks are ten times too many, the worst case for speed.
func benchParams(tasks, events int) Params {
	rng := rand.New(rand.NewPCG(uint64(tasks), uint64(events)))
	now := time.Date(2025, 3, 10, 7, 30, 0, 0, paris) // spans the end of March change
	p := Params{Now: now, End: now.AddDate(0, 0, 28), Location: paris, AllowLate: true, Break: 10 * time.Minute}
	p.Working = everyDay(Range{At(6, 0), At(24, 0)})
	p.Focus = everyDay(Range{At(8, 0), At(12, 0)})
	span := p.End.Sub(now)
	for i := range events {
		s := now.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(5 * time.Minute)
		b := Busy{Start: s, End: s.Add(time.Duration(30+rng.IntN(3)*15) * time.Minute)}
		if i%3 == 0 {
			b.Buffer = 20 * time.Minute
		}
		p.Busy = append(p.Busy, b)
	}
	for i := range tasks {
		t := Task{ID: fmt.Sprintf("t%04d", i), Title: "Task", Minutes: 15 * (1 + rng.IntN(3)),
			Priority: []Priority{Low, Medium, Medium, High, Urgent}[rng.IntN(5)]}
		if rng.IntN(5) > 0 {
			t.Due = now.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Hour)
		}
		if rng.IntN(5) < 2 {
			t.Splittable, t.MinBlock, t.MaxBlock = true, 15, 30
		}
		if i > 0 && rng.IntN(10) == 0 {
			t.DependsOn = []string{fmt.Sprintf("t%04d", rng.IntN(i))}
		}
		p.Tasks = append(p.Tasks, t)
	}
	return p
}

// The targets: 500 tasks with 300 events over four weeks in under
// 20 ms, and 5,000 tasks in under 300 ms.
func BenchmarkSolve(b *testing.B) {
	for _, n := range []int{50, 500, 5000} {
		b.Run(fmt.Sprintf("tasks=%d/events=300", n), func(b *testing.B) {
			p := benchParams(n, 300)
			var r *Result
			for b.Loop() {
				var err error
				if r, err = Solve(p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(r.Blocks)), "blocks")
			b.ReportMetric(float64(len(r.Unscheduled)), "unscheduled")
			b.ReportMetric(float64(r.Cost.Missed), "missed")
			b.ReportMetric(float64(r.Evaluations), "evaluations")
			pb, err := newProblem(&p)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(plainEDF(pb)), "edf_missed")
		})
	}
}

// Re-planning after one task grows by 30 minutes: how long, and how many
// of the previous blocks move.
func BenchmarkReplanOneChange(b *testing.B) {
	for _, n := range []int{100, 500} {
		b.Run(fmt.Sprintf("tasks=%d/events=300", n), func(b *testing.B) {
			p := benchParams(n, 300)
			first, err := Solve(p)
			if err != nil {
				b.Fatal(err)
			}
			p.Previous = blockList(first)
			p.Tasks[n/2].Minutes += 30
			var r *Result
			for b.Loop() {
				if r, err = Solve(p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(p.Previous)), "previous")
			b.ReportMetric(float64(r.Moved), "moved")
		})
	}
}
