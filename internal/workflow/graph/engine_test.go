package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/events"
)

// memHooks keeps records and checkpoints in memory.
type memHooks struct {
	mu      sync.Mutex
	records []*Record
	commits []*Checkpoint
	events  []Event
	failAt  int // Commit fails at this step (0: never)
}

func (h *memHooks) Node(_ context.Context, r *Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r)
	return nil
}

func (h *memHooks) Commit(_ context.Context, cp *Checkpoint, recs []*Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, recs...)
	if h.failAt == cp.Step {
		return errors.New("crash")
	}
	h.commits = append(h.commits, cp)
	return nil
}

func (h *memHooks) Emit(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, e)
}

func (h *memHooks) ran() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.records {
		out = append(out, fmt.Sprintf("%d:%s", r.Step, r.Node))
	}
	return out
}

// fakeEffects answers tool calls by name, counting them.
type fakeEffects struct {
	calls   atomic.Int64
	active  atomic.Int64
	peak    atomic.Int64
	failN   atomic.Int64 // fail this many calls first
	delay   time.Duration
	results map[string]any
}

func (f *fakeEffects) Agent(ctx context.Context, c Call, agentID, input string) (AgentResult, error) {
	c.Emit(Event{Type: events.MessageDelta, Data: map[string]any{"text": "hi"}})
	return AgentResult{RunID: "run-1", Output: agentID + ":" + input}, nil
}

func (f *fakeEffects) LLM(ctx context.Context, c Call, req LLMCall) (any, error) {
	return req.System + "|" + req.Prompt, nil
}

func (f *fakeEffects) Tool(ctx context.Context, c Call, name string, args any) (any, error) {
	f.calls.Add(1)
	n := f.active.Add(1)
	defer f.active.Add(-1)
	for {
		p := f.peak.Load()
		if n <= p || f.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.failN.Add(-1) >= 0 {
		return nil, errors.New("flaky")
	}
	if name == "echo" {
		return args, nil
	}
	return f.results[name], nil
}

func (f *fakeEffects) HTTP(ctx context.Context, c Call, req HTTPCall) (any, error) {
	return map[string]any{"url": req.URL, "body": req.Body}, nil
}

func (f *fakeEffects) Subworkflow(ctx context.Context, c Call, id string, version int, input map[string]any) (map[string]any, error) {
	return map[string]any{"from": id, "input": input}, nil
}

type testBundle struct {
	hooks   *memHooks
	effects *fakeEffects
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	return &testBundle{hooks: &memHooks{}, effects: &fakeEffects{results: map[string]any{}}}
}

func mustCompile(t *testing.T, doc string) *Graph {
	t.Helper()
	s, err := Parse([]byte(doc))
	require.NoError(t, err)
	g, problems := Compile(s)
	require.Empty(t, problems)
	return g
}

func (b *testBundle) run(t *testing.T, g *Graph, p RunParams) Outcome {
	t.Helper()
	p.Hooks, p.Effects = b.hooks, b.effects
	out, err := g.Run(context.Background(), p)
	require.NoError(t, err)
	return out
}

func TestBranchesAndRouting(t *testing.T) {
	t.Parallel()
	g := mustCompile(t, `{
	  "entry": "classify",
	  "nodes": [
	    {"id": "classify", "type": "router", "routes": [{"when": "state.n > 10", "to": "big"}], "default": "small"},
	    {"id": "big", "type": "transform", "set": {"size": "'big'"}},
	    {"id": "small", "type": "transform", "format": {"size": "small {{ state.n }}"}},
	    {"id": "done", "type": "end"}
	  ],
	  "edges": [{"from": "big", "to": "done"}, {"from": "small", "to": "done"}]
	}`)
	for _, tc := range []struct {
		n    float64
		want string
	}{{50, "big"}, {3, "small 3"}} {
		b := setup(t)
		out := b.run(t, g, RunParams{Input: map[string]any{"n": tc.n}})
		require.Equal(t, Succeeded, out.Status)
		require.Equal(t, tc.want, out.Checkpoint.State["size"])
		require.Equal(t, 3, out.Checkpoint.Step)
		require.Len(t, b.hooks.commits, 3)
	}
}

func TestLoopWithExitGuard(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := mustCompile(t, `
entry: inc
state:
  type: object
  properties:
    count: {type: integer}
    log: {type: array}
reducers: {count: add, log: append}
nodes:
  - {id: inc, type: transform, set: {count: "1", log: "'tick ' + string(state.count ?? 0)"}}
  - {id: check, type: router, expr: "state.count < 4 ? 'inc' : 'stop'", targets: [inc, stop]}
  - {id: stop, type: end}
edges:
  - {from: inc, to: check}
`)
	out := b.run(t, g, RunParams{Input: map[string]any{}})
	require.Equal(t, Succeeded, out.Status)
	require.EqualValues(t, 4, out.Checkpoint.State["count"])
	require.Equal(t, []any{"tick 0", "tick 1", "tick 2", "tick 3"}, out.Checkpoint.State["log"])
	require.Equal(t, 9, out.Checkpoint.Step) // 4 × (inc, check) + stop
}

func TestMaxStepsStopsARunawayLoop(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := mustCompile(t, `{"entry": "a", "max_steps": 7, "nodes": [{"id": "a", "type": "noop"}], "edges": [{"from": "a", "to": "a", "when": "true"}]}`)
	out := b.run(t, g, RunParams{})
	require.Equal(t, Failed, out.Status)
	require.Equal(t, "max_steps_exceeded", out.ErrorCode)
	require.Equal(t, 7, out.Checkpoint.Step)
}

func TestParallelJoinWaitsForEveryBranch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.effects.delay = 20 * time.Millisecond
	g := mustCompile(t, `{
	  "entry": "fan",
	  "state": {"type": "object", "properties": {"got": {"type": "array"}}},
	  "reducers": {"got": "append"},
	  "nodes": [
	    {"id": "fan", "type": "parallel", "branches": ["a", "b1", "c"], "join": "join"},
	    {"id": "a", "type": "tool", "tool": "echo", "args": {"v": "a"}, "output_key": "got"},
	    {"id": "b1", "type": "transform", "set": {"got": "'b1'"}},
	    {"id": "b2", "type": "transform", "set": {"got": "'b2'"}},
	    {"id": "c", "type": "tool", "tool": "echo", "args": {"v": "c"}, "output_key": "got"},
	    {"id": "join", "type": "transform", "set": {"count": "len(state.got)"}}
	  ],
	  "edges": [{"from": "a", "to": "join"}, {"from": "b1", "to": "b2"}, {"from": "b2", "to": "join"}, {"from": "c", "to": "join"}]
	}`)
	out := b.run(t, g, RunParams{})
	require.Equal(t, Succeeded, out.Status)
	// The join ran once, after the longer branch (b1 -> b2) arrived.
	require.EqualValues(t, 4, out.Checkpoint.State["count"])
	require.Equal(t, []string{"1:fan", "2:a", "2:b1", "2:c", "3:b2", "4:join"}, sortedRan(b.hooks.ran()))
	require.EqualValues(t, 2, b.effects.peak.Load(), "the branches ran together")
	require.Equal(t, []any{map[string]any{"v": "a"}, "b1", map[string]any{"v": "c"}, "b2"}, out.Checkpoint.State["got"],
		"updates of one super-step merge in declaration order")
}

func sortedRan(r []string) []string {
	out := append([]string(nil), r...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestMapRespectsItsConcurrencyLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.effects.delay = 10 * time.Millisecond
	g := mustCompile(t, `{
	  "entry": "each",
	  "nodes": [{"id": "each", "type": "map", "items": "state.docs", "concurrency": 3, "output_key": "results",
	    "collect": "state.out",
	    "graph": {"entry": "work", "nodes": [
	      {"id": "work", "type": "tool", "tool": "echo", "args": {"doc": "{{ state.item }}"}, "output_key": "raw"},
	      {"id": "shape", "type": "transform", "format": {"out": "done {{ state.raw.doc }}"}}
	    ], "edges": [{"from": "work", "to": "shape"}]}}]
	}`)
	docs := []any{}
	for i := range 10 {
		docs = append(docs, fmt.Sprintf("d%d", i))
	}
	out := b.run(t, g, RunParams{Input: map[string]any{"docs": docs}})
	require.Equal(t, Succeeded, out.Status, out.ErrorMessage)
	res := out.Checkpoint.State["results"].([]any)
	require.Len(t, res, 10)
	require.Equal(t, "done d0", res[0])
	require.Equal(t, "done d9", res[9])
	require.EqualValues(t, 10, b.effects.calls.Load())
	require.EqualValues(t, 3, b.effects.peak.Load())
}

func TestInterruptAndResume(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := mustCompile(t, `{
	  "entry": "draft",
	  "nodes": [
	    {"id": "draft", "type": "transform", "format": {"text": "draft for {{ state.topic }}"}},
	    {"id": "review", "type": "human_input", "message": "Approve?", "output_key": "review",
	     "form": {"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}},
	    {"id": "decide", "type": "router", "routes": [{"when": "state.review.ok", "to": "publish"}], "default": "discard"},
	    {"id": "publish", "type": "transform", "set": {"result": "'published'"}},
	    {"id": "discard", "type": "transform", "set": {"result": "'discarded'"}}
	  ],
	  "edges": [{"from": "draft", "to": "review"}, {"from": "review", "to": "decide"}]
	}`)
	out := b.run(t, g, RunParams{Input: map[string]any{"topic": "go"}})
	require.Equal(t, Interrupted, out.Status)
	cp := out.Checkpoint
	require.Equal(t, "review", cp.Interrupt.Node)
	require.Equal(t, "Approve?", cp.Interrupt.Message)
	require.Equal(t, 1, cp.Step)
	require.Error(t, g.ValidateAnswer("review", json.RawMessage(`{"ok":"yes"}`)))
	require.NoError(t, g.ValidateAnswer("review", json.RawMessage(`{"ok":true}`)))

	out = b.run(t, g, RunParams{Checkpoint: cp, Resume: map[string]any{"ok": true}})
	require.Equal(t, Succeeded, out.Status)
	require.Equal(t, "published", out.Checkpoint.State["result"])
	require.Equal(t, "draft for go", out.Checkpoint.State["text"])
	require.Nil(t, out.Checkpoint.Interrupt)
}

func TestResumeReusesNodesDoneBeforeACrash(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.hooks.failAt = 2 // the process "dies" before the second super-step commits
	g := mustCompile(t, `{
	  "entry": "fan",
	  "nodes": [
	    {"id": "fan", "type": "parallel", "branches": ["x", "y"], "join": "z"},
	    {"id": "x", "type": "tool", "tool": "echo", "args": {"n": "x"}, "output_key": "x"},
	    {"id": "y", "type": "tool", "tool": "echo", "args": {"n": "y"}, "output_key": "y"},
	    {"id": "z", "type": "noop"}
	  ],
	  "edges": [{"from": "x", "to": "z"}, {"from": "y", "to": "z"}]
	}`)
	_, err := g.Run(context.Background(), RunParams{Hooks: b.hooks, Effects: b.effects})
	require.Error(t, err)
	require.EqualValues(t, 2, b.effects.calls.Load())
	last := b.hooks.commits[len(b.hooks.commits)-1]
	done := map[string]*Record{}
	for _, r := range b.hooks.records {
		if r.Step == last.Step+1 {
			done[r.Node] = r
		}
	}
	b.hooks.failAt = 0
	out := b.run(t, g, RunParams{Checkpoint: last, Done: done})
	require.Equal(t, Succeeded, out.Status)
	require.EqualValues(t, 2, b.effects.calls.Load(), "x and y were not called again")
	require.Equal(t, map[string]any{"n": "x"}, out.Checkpoint.State["x"])
}

func TestRetryAndTimeout(t *testing.T) {
	t.Parallel()
	t.Run("retry until it passes", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.effects.failN.Store(2)
		g := mustCompile(t, `{"entry": "t", "nodes": [{"id": "t", "type": "tool", "tool": "echo", "args": {}, "output_key": "r",
		  "retry": {"max_attempts": 3, "backoff_seconds": 0.001}}]}`)
		out := b.run(t, g, RunParams{})
		require.Equal(t, Succeeded, out.Status)
		require.Equal(t, 3, b.hooks.records[0].Attempts)
	})
	t.Run("out of attempts", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.effects.failN.Store(5)
		g := mustCompile(t, `{"entry": "t", "nodes": [{"id": "t", "type": "tool", "tool": "echo", "output_key": "r",
		  "retry": {"max_attempts": 2, "backoff_seconds": 0.001}}]}`)
		out := b.run(t, g, RunParams{})
		require.Equal(t, Failed, out.Status)
		require.Equal(t, "t", out.FailedNode)
		require.Contains(t, out.ErrorMessage, "flaky")
		require.EqualValues(t, 2, b.effects.calls.Load())
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.effects.delay = time.Second
		g := mustCompile(t, `{"entry": "t", "nodes": [{"id": "t", "type": "tool", "tool": "echo", "output_key": "r", "timeout_seconds": 0.02}]}`)
		out := b.run(t, g, RunParams{})
		require.Equal(t, Failed, out.Status)
		require.Contains(t, out.ErrorMessage, "timed out after 0.02s")
	})
	t.Run("expression errors are not retried", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		g := mustCompile(t, `{"entry": "t", "nodes": [{"id": "t", "type": "transform", "set": {"x": "state.a.b.c + 1"}, "retry": {"max_attempts": 5}}]}`)
		out := b.run(t, g, RunParams{})
		require.Equal(t, Failed, out.Status)
		require.Equal(t, 1, b.hooks.records[0].Attempts)
	})
}

func TestCancelStopsBetweenNodes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.effects.delay = time.Minute
	g := mustCompile(t, `{"entry": "slow", "nodes": [{"id": "slow", "type": "tool", "tool": "echo", "output_key": "r"}]}`)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := g.Run(ctx, RunParams{Hooks: b.hooks, Effects: b.effects})
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, b.hooks.records, "a node stopped from outside is not recorded as failed")
}

func TestEffectNodesRenderTheirTemplates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := mustCompile(t, `{
	  "entry": "a",
	  "nodes": [
	    {"id": "a", "type": "agent", "agent_id": "ag1", "input": "summarise {{ state.topic }}", "output_key": "summary"},
	    {"id": "l", "type": "llm", "model": "openai/gpt", "system": "be {{ state.tone }}", "prompt": "{{ state.summary }}", "output_key": "llm"},
	    {"id": "h", "type": "http", "method": "POST", "url": "https://x.test/{{ state.topic }}", "body": {"n": "{{ state.n }}", "s": "n={{ state.n }}"}, "output_key": "http"},
	    {"id": "s", "type": "subworkflow", "workflow_id": "wf2", "with": {"q": "state.topic + '!'"}, "output_key": "sub"}
	  ],
	  "edges": [{"from": "a", "to": "l"}, {"from": "l", "to": "h"}, {"from": "h", "to": "s"}]
	}`)
	out := b.run(t, g, RunParams{Input: map[string]any{"topic": "go", "tone": "brief", "n": 3.0}})
	require.Equal(t, Succeeded, out.Status, out.ErrorMessage)
	st := out.Checkpoint.State
	require.Equal(t, "ag1:summarise go", st["summary"])
	require.Equal(t, "be brief|ag1:summarise go", st["llm"])
	require.Equal(t, map[string]any{"url": "https://x.test/go", "body": map[string]any{"n": 3.0, "s": "n=3"}}, st["http"])
	require.Equal(t, map[string]any{"from": "wf2", "input": map[string]any{"q": "go!"}}, st["sub"])
	require.Equal(t, "run-1", b.hooks.records[0].ChildRunID)
	var delta *Event
	for i, e := range b.hooks.events {
		if e.Type == events.MessageDelta {
			delta = &b.hooks.events[i]
		}
	}
	require.NotNil(t, delta)
	require.Equal(t, "a", delta.Data["node"])
}

func TestStateSchemaIsEnforced(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := mustCompile(t, `{"entry": "t", "state": {"type": "object", "properties": {"n": {"type": "integer"}}},
	  "nodes": [{"id": "t", "type": "transform", "set": {"n": "'not a number'"}}]}`)
	out := b.run(t, g, RunParams{Input: map[string]any{"n": 1}})
	require.Equal(t, Failed, out.Status)
	require.Equal(t, "state_invalid", out.ErrorCode)
}
