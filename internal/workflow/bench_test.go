package workflow

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
)

// benchService is a workflow service with group commits on a real
// database, with one user and one workflow of the given definition.
func benchService(b *testing.B, e config.Engine, definition string) (*Service, context.Context, string) {
	return newService(b, e, Params{}, definition)
}

func chainDefinition(n int) string {
	var nodes, edges []string
	for i := range n {
		nodes = append(nodes, fmt.Sprintf(`{"id": "n%d", "type": "noop"}`, i))
		if i > 0 {
			edges = append(edges, fmt.Sprintf(`{"from": "n%d", "to": "n%d"}`, i-1, i))
		}
	}
	return fmt.Sprintf(`{"entry": "n0", "max_steps": %d, "nodes": [%s], "edges": [%s]}`, n+1, strings.Join(nodes, ","), strings.Join(edges, ","))
}

// BenchmarkDurableNode is the cost per no-op node of a stored run: its
// record, its checkpoint and the run's move, committed together after
// every node, on each engine.
func BenchmarkDurableNode(b *testing.B) {
	for _, e := range dbtest.Engines() {
		b.Run(string(e), func(b *testing.B) {
			s, ctx, wf := benchService(b, e, chainDefinition(100))
			for b.Loop() {
				r, err := s.Start(ctx, StartParams{WorkflowID: wf})
				if err != nil {
					b.Fatal(err)
				}
				if r, err = s.Execute(ctx, r, nil); err != nil || r.Status != StatusSucceeded {
					b.Fatal(err, r.ErrorMessage)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*100), "µs/node")
		})
	}
}

// BenchmarkConcurrentStoredRuns starts 10,000 trivial three-node runs at
// once, each stored with its checkpoints, and reports the wall time until
// all have finished and the process's peak RSS. With -short it starts 500,
// so that a smoke run of every benchmark stays quick (the unit says which).
func BenchmarkConcurrentStoredRuns(b *testing.B) {
	runs, unit := 10_000, "ms/10k-runs"
	if testing.Short() {
		runs, unit = 500, "ms/500-runs"
	}
	for _, e := range dbtest.Engines() {
		for _, mode := range []string{"sync", "exit"} {
			b.Run(string(e)+"/"+mode, func(b *testing.B) {
				s, ctx, wf := benchService(b, e, `{"durability":"`+mode+`","entry":"a","nodes":[{"id":"a","type":"transform","set":{"x":"1"}},
			  {"id":"b","type":"transform","set":{"y":"state.x + 1"}},{"id":"c","type":"end"}],
			  "edges":[{"from":"a","to":"b"},{"from":"b","to":"c"}]}`)
				for b.Loop() {
					start := time.Now()
					var wg sync.WaitGroup
					gate := make(chan struct{})
					var failed sync.Once
					for range runs {
						wg.Go(func() {
							<-gate
							r, err := s.Start(ctx, StartParams{WorkflowID: wf})
							if err == nil {
								r, err = s.Execute(ctx, r, nil)
							}
							if err != nil || r.Status != StatusSucceeded {
								failed.Do(func() { b.Error(err) })
							}
						})
					}
					close(gate)
					wg.Wait()
					b.ReportMetric(time.Since(start).Seconds()*1000, unit)
				}
				b.ReportMetric(peakRSS(), "peak-RSS-MiB")
				// How the group commit shared its transactions (and, on
				// PostgreSQL, how few round trips their statements took).
				if st := s.batch.Stats(); st.Groups > 0 {
					b.ReportMetric(float64(st.Writes)/float64(st.Groups), "writes/group")
					if st.Rounds > 0 {
						b.ReportMetric(float64(st.Rounds)/float64(st.Groups), "rounds/group")
					}
				}
			})
		}
	}
}

// peakRSS is the process's high-water resident set (VmHWM), in MiB.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
