package run

import (
	"context"
	"encoding/json"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pulse-run/pulse/internal/agent"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/durable"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/tool"
)

// zeroModel answers instantly: one tool call, then (every other turn) text.
type zeroModel struct{}

var benchCall = []llm.ToolCall{{ID: "c", Name: "current_time", Arguments: json.RawMessage(`{}`)}}

func (zeroModel) Chat(_ context.Context, req llm.Request) (*llm.Response, error) {
	if req.Messages[len(req.Messages)-1].Role == llm.RoleTool {
		return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: "done"}, Usage: llm.Usage{InputTokens: 1, OutputTokens: 1}}, nil
	}
	return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, ToolCalls: benchCall}, Usage: llm.Usage{InputTokens: 1, OutputTokens: 1}}, nil
}

// BenchmarkLoopTurn is the loop's own cost per turn (one model call plus
// one tool call) against an in-process zero-latency model. Each op is a
// two-turn run, reported per turn. "memory" keeps the trace in memory;
// "sqlite" commits each step to the embedded database as production does.
func BenchmarkLoopTurn(b *testing.B) {
	reg := llm.NewRegistry()
	reg.Register("openai", zeroModel{})
	l := &Loop{Models: reg, Tools: tool.NewRuntime(nil), Now: time.Now}
	s := agent.Spec{Instructions: "x", Model: "openai/zero", Tools: []agent.ToolRef{{Type: "builtin", Name: "current_time"}}}
	ctx := context.Background()
	run := func(b *testing.B, rec func() Recorder) {
		b.ReportAllocs()
		for b.Loop() {
			out := l.Execute(ctx, LoopParams{Spec: s, Input: "hi", Recorder: rec()})
			if out.Status != StatusSucceeded {
				b.Fatal(out.ErrorMessage)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2/1000, "µs/turn")
	}
	b.Run("memory", func(b *testing.B) { run(b, func() Recorder { return &memRecorder{} }) })
	b.Run("memory+spans", func(b *testing.B) {
		// Tracing on, with a batching exporter that drops the spans: the
		// cost of making them.
		exp := tracetest.NewNoopExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
		defer func() { _ = tp.Shutdown(ctx) }()
		l.Tracer = tp.Tracer(TracerName)
		defer func() { l.Tracer = nil }()
		run(b, func() Recorder { return &memRecorder{} })
	})
	b.Run("sqlite", func(b *testing.B) {
		d := dbtest.Open(b, config.SQLite)
		_, err := d.W.NewRaw("INSERT INTO users (id, email, role, active, created_at, updated_at) VALUES ('u', 'u@x.io', 'user', TRUE, ?, ?)", time.Now(), time.Now()).Exec(ctx)
		if err != nil {
			b.Fatal(err)
		}
		// The service builds the recorder as a durable run's worker does:
		// with its lease owner and clock.
		svc := New(Params{DB: d})
		run(b, func() Recorder {
			id := ids.New()
			r := &Run{ID: id, AgentID: "a", AgentVersion: 1, OwnerID: "u", Status: StatusRunning, Input: "hi", CreatedAt: time.Now(), LeaseOwner: durable.Instance()}
			if _, err := d.W.NewInsert().Model(r).Exec(ctx); err != nil {
				b.Fatal(err)
			}
			return svc.recorder(id)
		})
	})
}

// gate blocks every model call until released: a provider that is slow.
// arrived is called as each call reaches it.
type gate struct {
	release chan struct{}
	arrived func()
}

func (g gate) Chat(ctx context.Context, _ llm.Request) (*llm.Response, error) {
	if g.arrived != nil {
		g.arrived()
	}
	select {
	case <-g.release:
		return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: "done"}}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// BenchmarkInFlightRunMemory starts 10,000 runs that all wait on a slow
// provider and reports the memory each holds while waiting (heap plus
// goroutine stacks, measured after a GC).
func BenchmarkInFlightRunMemory(b *testing.B) {
	const n = 10_000
	for b.Loop() {
		var waiting sync.WaitGroup
		waiting.Add(n)
		var count atomic.Int64
		g := gate{release: make(chan struct{}), arrived: func() {
			if count.Add(1) <= n {
				waiting.Done()
			}
		}}
		reg := llm.NewRegistry()
		reg.Register("openai", g)
		l := &Loop{Models: reg, Tools: tool.NewRuntime(nil), Now: time.Now}
		s := agent.Spec{Instructions: "You are a helpful planner for students. Answer briefly.", Model: "openai/slow",
			Tools: []agent.ToolRef{{Type: "builtin", Name: "current_time"}, {Type: "builtin", Name: "web_fetch"}}}
		before := memNow()
		var done sync.WaitGroup
		done.Add(n)
		for range n {
			go func() {
				defer done.Done()
				l.Execute(context.Background(), LoopParams{Spec: s, Input: "Plan my week around two exams.", Recorder: &memRecorder{}})
			}()
		}
		atProvider := make(chan struct{})
		go func() { waiting.Wait(); close(atProvider) }()
		select {
		case <-atProvider: // every run waits on the provider
		case <-time.After(time.Minute):
			b.Fatalf("only %d of %d runs reached the provider", count.Load(), n)
		}
		during := memNow()
		close(g.release)
		done.Wait()
		b.ReportMetric(float64(during-before)/n/1024, "KB/run")
	}
}

func memNow() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}
