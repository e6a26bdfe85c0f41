package events_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/pulse-run/pulse/internal/platform/events"
)

// BenchmarkFanout publishes one event to 10,000 subscribers of one user,
// each read by its own goroutine, and reports the time until the last has
// it (in-process transport: the bus's own cost).
func BenchmarkFanout(b *testing.B) {
	const n = 10_000
	bus := events.New(events.NewMemory(0), nil)
	bus.Start(context.Background())
	defer bus.Close()
	var wg sync.WaitGroup
	got := make(chan time.Time, n)
	for range n {
		s := bus.Subscribe([]string{events.UserKey("u")}, 16)
		go func() {
			for {
				select {
				case ev := <-s.C():
					_ = ev.Wire()
					got <- time.Now()
					wg.Done()
				case <-s.Done():
					return
				}
			}
		}()
	}
	var worst time.Duration
	data := json.RawMessage(`{"status":"running"}`)
	for b.Loop() {
		wg.Add(n)
		start := time.Now()
		if _, err := bus.Publish(context.Background(), events.Event{Topic: "run:r", UserID: "u", Type: events.RunCreated, Data: data}); err != nil {
			b.Fatal(err)
		}
		wg.Wait()
		var last time.Time
		for range n {
			if t := <-got; t.After(last) {
				last = t
			}
		}
		worst = max(worst, last.Sub(start))
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/fanout")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
}
