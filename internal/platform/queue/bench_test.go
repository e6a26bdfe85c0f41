package queue_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/queue"
)

// stampArgs carries its enqueue time, so the worker can tell how long the
// job waited.
type stampArgs struct {
	At int64 `json:"at"`
}

func (stampArgs) Kind() string { return "bench.stamp" }

type stampWorker struct {
	river.WorkerDefaults[stampArgs]
	mu   sync.Mutex
	wait []time.Duration
	done atomic.Int64
}

func (w *stampWorker) Work(_ context.Context, j *river.Job[stampArgs]) error {
	d := time.Since(time.Unix(0, j.Args.At))
	w.mu.Lock()
	w.wait = append(w.wait, d)
	w.mu.Unlock()
	w.done.Add(1)
	return nil
}

// benchQueue starts a queue with workers no-op workers on a fresh database.
func benchQueue(b *testing.B, e config.Engine, workers int, cooldown time.Duration) (*queue.Queue, *stampWorker) {
	b.Helper()
	d := dbtest.Open(b, e)
	if _, err := queue.Migrate(context.Background(), d, nil); err != nil {
		b.Fatal(err)
	}
	w := &stampWorker{}
	ws := river.NewWorkers()
	river.AddWorker(ws, w)
	// Production settings unless told otherwise.
	q, err := queue.New(queue.Params{DB: d, Workers: ws, MaxWorkers: workers, FetchCooldown: cooldown})
	if err != nil {
		b.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = q.Stop(ctx)
	})
	return q, w
}

// BenchmarkQueueThroughput enqueues no-op jobs in batches of 1,000 and
// reports how many per second are completed end to end (insert to done),
// with the production setting (100 workers, 10 ms fetch cooldown) and with
// 500 workers.
func BenchmarkQueueThroughput(b *testing.B) {
	for _, e := range dbtest.Engines() {
		for _, cfg := range []struct {
			name     string
			workers  int
			cooldown time.Duration
		}{{"default", 0, 0}, {"500-workers", 500, 0}} {
			b.Run(string(e)+"/"+cfg.name, func(b *testing.B) {
				q, w := benchQueue(b, e, cfg.workers, cfg.cooldown)
				const batch = 1000
				ctx := context.Background()
				var total int64
				start := time.Now()
				for b.Loop() {
					params := make([]river.InsertManyParams, batch)
					now := time.Now().UnixNano()
					for i := range params {
						params[i] = river.InsertManyParams{Args: stampArgs{At: now}}
					}
					if _, err := q.InsertMany(ctx, params); err != nil {
						b.Fatal(err)
					}
					total += batch
				}
				for w.done.Load() < total {
					time.Sleep(time.Millisecond)
				}
				b.ReportMetric(float64(total)/time.Since(start).Seconds(), "jobs/s")
			})
		}
	}
}

// BenchmarkQueuePickup enqueues one job at a time, 200 a second, into an
// idle queue and reports the wait from insert to the worker starting it.
func BenchmarkQueuePickup(b *testing.B) {
	for _, e := range dbtest.Engines() {
		b.Run(string(e), func(b *testing.B) {
			q, w := benchQueue(b, e, 0, 0)
			ctx := context.Background()
			var n int64
			for b.Loop() {
				if _, err := q.Insert(ctx, stampArgs{At: time.Now().UnixNano()}, nil); err != nil {
					b.Fatal(err)
				}
				n++
				time.Sleep(5 * time.Millisecond)
			}
			for w.done.Load() < n {
				time.Sleep(time.Millisecond)
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			slices.Sort(w.wait)
			b.ReportMetric(float64(w.wait[len(w.wait)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(w.wait[len(w.wait)*95/100].Microseconds())/1000, "p95-ms")
		})
	}
}
