package graph

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// chain is a workflow of n no-op nodes in a line.
func chain(b *testing.B, n int) *Graph {
	b.Helper()
	var nodes, edges []string
	for i := range n {
		nodes = append(nodes, fmt.Sprintf(`{"id": "n%d", "type": "noop"}`, i))
		if i > 0 {
			edges = append(edges, fmt.Sprintf(`{"from": "n%d", "to": "n%d"}`, i-1, i))
		}
	}
	doc := fmt.Sprintf(`{"entry": "n0", "max_steps": %d, "nodes": [%s], "edges": [%s]}`, n+1, strings.Join(nodes, ","), strings.Join(edges, ","))
	s, err := Parse([]byte(doc))
	if err != nil {
		b.Fatal(err)
	}
	g, problems := Compile(s)
	if problems != nil {
		b.Fatal(problems)
	}
	return g
}

// keepHooks keeps every checkpoint and record, as an in-memory saver would.
type keepHooks struct {
	records []*Record
	commits []*Checkpoint
}

func (h *keepHooks) Node(_ context.Context, r *Record) error {
	h.records = append(h.records, r)
	return nil
}
func (h *keepHooks) Commit(_ context.Context, cp *Checkpoint, recs []*Record) error {
	h.records = append(h.records, recs...)
	h.commits = append(h.commits, cp)
	return nil
}
func (h *keepHooks) Emit(Event) {}

// BenchmarkNoopNode is the engine's own cost per node: a 100-node chain, a
// checkpoint after every node, reported per node.
func BenchmarkNoopNode(b *testing.B) {
	g := chain(b, 100)
	for _, tc := range []struct {
		name  string
		hooks func() Hooks
	}{
		{"bare", func() Hooks { return nil }},
		{"checkpoints_kept", func() Hooks { return &keepHooks{} }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				out, err := g.Run(ctx, RunParams{Hooks: tc.hooks()})
				if err != nil || out.Status != Succeeded {
					b.Fatal(err, out)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100)/1000, "µs/node")
		})
	}
}

// BenchmarkConcurrentRuns starts 10,000 trivial three-node workflows at
// once (each in its own goroutine, checkpoints kept) and reports the wall
// time until all have finished and the heap they held at the peak.
func BenchmarkConcurrentRuns(b *testing.B) {
	s, err := Parse([]byte(`{"entry": "a", "nodes": [{"id": "a", "type": "transform", "set": {"x": "1"}},
	  {"id": "b", "type": "transform", "set": {"y": "state.x + 1"}}, {"id": "c", "type": "end"}],
	  "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "c"}]}`))
	if err != nil {
		b.Fatal(err)
	}
	g, problems := Compile(s)
	if problems != nil {
		b.Fatal(problems)
	}
	const runs = 10_000
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		hooks := make([]*keepHooks, runs)
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for i := range runs {
			hooks[i] = &keepHooks{}
			wg.Go(func() {
				<-gate // all runs are in flight together
				out, err := g.Run(context.Background(), RunParams{RunID: fmt.Sprint(i), Hooks: hooks[i], Input: map[string]any{}})
				if err != nil || out.Status != Succeeded {
					panic(fmt.Sprint(err, out))
				}
			})
		}
		close(gate)
		wg.Wait()
		elapsed := time.Since(start)
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(elapsed.Seconds()*1000, "ms/10k-runs")
		b.ReportMetric(float64(after.HeapInuse)/(1<<20), "heap-MiB")
		runtime.KeepAlive(hooks)
	}
	b.ReportMetric(peakRSS(), "peak-RSS-MiB")
}

// peakRSS is the process's high-water resident set (VmHWM), in MiB: run
// the benchmark alone for a figure of its own.
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
