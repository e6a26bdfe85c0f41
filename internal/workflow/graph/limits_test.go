package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/events"
)

// finding10Expr is the expression of finding 10: 300³ iterations, seconds
// of CPU, on 300 items.
const finding10Expr = "filter(state.a, any(state.a, any(state.a, # < 0)))"

func finding10Graph(t *testing.T, timeout string) *Graph {
	t.Helper()
	return mustCompile(t, `{"entry": "slow", "nodes": [
	  {"id": "slow", "type": "transform", "set": {"x": "`+finding10Expr+`"}`+timeout+`},
	  {"id": "done", "type": "end"}], "edges": [{"from": "slow", "to": "done"}]}`)
}

func items(n int) []any {
	a := make([]any, n)
	for i := range a {
		a[i] = float64(i)
	}
	return a
}

// startedHooks tells when a node starts.
type startedHooks struct {
	memHooks
	started chan struct{}
}

func (h *startedHooks) Emit(e Event) {
	h.memHooks.Emit(e)
	if e.Type == events.NodeStarted {
		select {
		case h.started <- struct{}{}:
		default:
		}
	}
}

type runResult struct {
	out     Outcome
	err     error
	elapsed time.Duration
}

// evalBounded evaluates src on an empty state and returns its value,
// failing unless it succeeds within limit. It evaluates on another
// goroutine so a runaway evaluation fails the test instead of hanging it;
// the assertions stay on the test goroutine.
func evalBounded(t *testing.T, src string, limit time.Duration) any {
	t.Helper()
	p, err := compileExpr(src)
	require.NoError(t, err, src)
	type result struct {
		v       any
		err     error
		elapsed time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		v, err := run(context.Background(), p, map[string]any{})
		done <- result{v, err, time.Since(start)}
	}()
	select {
	case r := <-done:
		require.NoError(t, r.err, src)
		require.Less(t, r.elapsed, limit, src)
		return r.v
	case <-time.After(10*limit + 10*time.Second):
		t.Fatalf("%s was not bounded", src)
		return nil
	}
}

func runAsync(ctx context.Context, g *Graph, p RunParams) <-chan runResult {
	done := make(chan runResult, 1)
	go func() {
		start := time.Now()
		out, err := g.Run(ctx, p)
		done <- runResult{out, err, time.Since(start)}
	}()
	return done
}

func TestFinding10ExpressionStopsAtNodeTimeout(t *testing.T) {
	t.Parallel()
	g := finding10Graph(t, `, "timeout_seconds": 0.2`)
	done := runAsync(context.Background(), g, RunParams{Input: map[string]any{"a": items(300)}, Hooks: &memHooks{}})
	select {
	case r := <-done:
		require.NoError(t, r.err)
		require.Equal(t, Failed, r.out.Status)
		require.Contains(t, r.out.ErrorMessage, "timed out after 0.2s")
		require.Less(t, r.elapsed, 3*time.Second, "stopped at its timeout, not when it was done")
	case <-time.After(30 * time.Second):
		t.Fatal("the expression ran on past its node's timeout")
	}
}

func TestFinding10ExpressionStopsWithinASecondOfCancel(t *testing.T) {
	t.Parallel()
	g := finding10Graph(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := &startedHooks{started: make(chan struct{}, 1)}
	done := runAsync(ctx, g, RunParams{Input: map[string]any{"a": items(300)}, Hooks: h})
	select {
	case <-h.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the node never started")
	}
	cancelled := time.Now()
	cancel()
	select {
	case r := <-done:
		require.ErrorIs(t, r.err, context.Canceled)
		require.Less(t, time.Since(cancelled), time.Second)
	case <-time.After(30 * time.Second):
		t.Fatal("the expression ran on after the cancel")
	}
}

// With neither a timeout nor a cancel, the work budget ends it.
func TestFinding10ExpressionStopsAtItsWorkBudget(t *testing.T) {
	t.Parallel()
	g := finding10Graph(t, "")
	done := runAsync(context.Background(), g, RunParams{Input: map[string]any{"a": items(300)}, Hooks: &memHooks{}})
	select {
	case r := <-done:
		require.NoError(t, r.err)
		require.Equal(t, Failed, r.out.Status)
		require.Contains(t, r.out.ErrorMessage, "work budget")
	case <-time.After(60 * time.Second):
		t.Fatal("the expression was not bounded")
	}
}

func TestFinding10ExpressionLimitsAtCompile(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ src, want string }{
		"too long":       {src: "state.a" + strings.Repeat(" ", MaxExprLength), want: "longer than"},
		"too many nodes": {src: strings.Repeat("1 + ", 600) + "1", want: "node"},
		"reserved name":  {src: "__pulse_meter", want: "reserved"},
		"reserved let":   {src: "let __pulse_meter = 1; filter(state.a, true)", want: "reserved"},
	} {
		_, err := compileExpr(tc.src)
		require.ErrorContains(t, err, tc.want, name)
	}

	// Strings that double are stopped by the byte budget.
	var src strings.Builder
	src.WriteString("let s0 = state.s + state.s; ")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&src, "let s%d = s%d + s%d; ", i, i-1, i-1)
	}
	src.WriteString("len(s40)")
	p, err := compileExpr(src.String())
	require.NoError(t, err)
	_, err = run(context.Background(), p, map[string]any{"s": "xxxxxxxx"})
	require.ErrorIs(t, err, ErrExprBudget)

	// Builtins that build strings or render values are measured before
	// they allocate, and results are measured as JSON.
	big := strings.Repeat("x", 100_000)
	for _, src := range []string{
		`repeat("ab", 1000000000)`,
		`replace(repeat("x", 3000000), "", "yy")`,
		`let a = 1..1000; let b = map(a, a); map(a, b)`,
		`let a = 1..1000; let b = map(a, a); toJSON(map(a, b))`,
		`join(map(1..1000, state.big), "")`,
		`string(map(1..1000, state.big))`,
	} {
		p, err := compileExpr(src)
		require.NoError(t, err, src)
		start := time.Now()
		_, err = run(context.Background(), p, map[string]any{"big": big})
		require.ErrorIs(t, err, ErrExprBudget, src)
		require.Less(t, time.Since(start), 5*time.Second, src)
	}
	for src, want := range map[string]any{
		`repeat("ab", 3)`: "ababab", `replace("a-b-c", "-", "+")`: "a+b+c", `replace("ab", "", ".")`: ".a.b.",
		`join(["a", "b"], ",")`: "a,b", `toJSON({"a": 1})`: "{\n  \"a\": 1\n}", `string(12)`: "12", `len(repeat(state.s, 2))`: 6,
	} {
		p, err := compileExpr(src)
		require.NoError(t, err, src)
		v, err := run(context.Background(), p, map[string]any{"s": "xyz"})
		require.NoError(t, err, src)
		require.Equal(t, want, v, src)
	}

	// matches is bounded like a guardrail's pattern: when saved for a
	// constant pattern, when run for one from the state, and in the work
	// of an evaluation's matches.
	_, err = compileExpr(`state.s matches "(?:(?:a|b|ab|ba){1000})!"`)
	require.ErrorContains(t, err, "too complex")
	p, err = compileExpr(`state.s matches state.p`)
	require.NoError(t, err)
	_, err = run(context.Background(), p, map[string]any{"s": "ab", "p": "(?:(?:a|b|ab|ba){1000})!"})
	require.ErrorContains(t, err, "too complex")
	start := time.Now()
	_, err = run(context.Background(), p, map[string]any{"s": strings.Repeat("ab", 100_000), "p": "(?:(?:a|b|ab|ba){100})!"})
	require.ErrorIs(t, err, ErrExprBudget)
	require.Less(t, time.Since(start), time.Second, "refused before matching")
	p, err = compileExpr(`"abc" matches "^a" && state.s matches state.p`)
	require.NoError(t, err)
	v, err := run(context.Background(), p, map[string]any{"s": "xyz", "p": "y+"})
	require.NoError(t, err)
	require.Equal(t, true, v)

	// Steps that each cost much (a builtin on a long string) are
	// stopped by the clock.
	p, err = compileExpr(`filter(1..100000, upper(state.big) == "")`)
	require.NoError(t, err)
	start = time.Now()
	_, err = run(context.Background(), p, map[string]any{"big": big})
	require.ErrorIs(t, err, ErrExprBudget)
	require.Less(t, time.Since(start), 2*MaxExprDuration)

	// Ordinary expressions work as before.
	p, err = compileExpr(`[filter(state.a, # > 1), map(state.a, # * 2), state.n + 1, "a" + "b", 1 + 2]`)
	require.NoError(t, err)
	v, err = run(context.Background(), p, map[string]any{"a": items(3), "n": 1})
	require.NoError(t, err)
	require.Equal(t, []any{[]any{float64(2)}, []any{float64(0), float64(2), float64(4)}, 2, "ab", 3}, v)
	_, err = compileExpr("[1] + [2]")
	require.ErrorContains(t, err, "mismatched types", "a type error is still found when saved")
	require.False(t, errors.Is(err, ErrExprBudget))
}

// Finding 10: builtins that build arrays or strings from shared parts
// (flatten, concat, join's glue) are measured before they allocate, not
// after. Not parallel: it measures the heap this test allocates.
func TestFinding10BuiltinsChargeBeforeTheyAllocate(t *testing.T) {
	for _, src := range []string{
		`let a = 1..1000; let b = map(a, a); flatten(map(1..2, b))`,
		`let x = 1..900000; concat(x, x)`,
		`join(map(1..50, "x"), repeat("y", 1000000))`,
	} {
		p, err := compileExpr(src)
		require.NoError(t, err, src)
		var before, after goruntime.MemStats
		goruntime.GC()
		goruntime.ReadMemStats(&before)
		_, err = run(context.Background(), p, map[string]any{})
		goruntime.ReadMemStats(&after)
		require.ErrorIs(t, err, ErrExprBudget, src)
		require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(24<<20), "%s: refused before it allocates", src)
	}
	for src, want := range map[string]any{
		`flatten([[1, [2]], 3])`: []any{1, 2, 3}, `concat([1], [2, 3])`: []any{1, 2, 3},
		`join(["a", "b"], "--")`: "a--b", `join(["a", "b"])`: "ab",
	} {
		p, err := compileExpr(src)
		require.NoError(t, err, src)
		v, err := run(context.Background(), p, map[string]any{})
		require.NoError(t, err, src)
		require.Equal(t, want, v, src)
	}
}

// Finding 10: patterns built in the state are compiled (and kept) once
// each, so an evaluation may compile only so many: thousands of large
// distinct patterns were half a gigabyte held until the clock stopped it.
// Not parallel: it measures the heap this test allocates.
func TestFinding10MatchesCompilesFewPatterns(t *testing.T) {
	p, err := compileExpr(`filter(1..200000, "a" matches (string(#) + "(?:(?:a|b|ab|ba){100})"))`)
	require.NoError(t, err)
	var before, after goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&before)
	start := time.Now()
	_, err = run(context.Background(), p, map[string]any{})
	goruntime.ReadMemStats(&after)
	require.ErrorIs(t, err, ErrExprBudget)
	require.ErrorContains(t, err, "patterns")
	require.Less(t, time.Since(start), time.Second)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<20))

	// The same pattern many times is compiled once.
	p, err = compileExpr(`len(filter(1..10000, string(#) matches state.p))`)
	require.NoError(t, err)
	v, err := run(context.Background(), p, map[string]any{"p": "^1+$"})
	require.NoError(t, err)
	require.Equal(t, 4, v)
}

// Finding 10: each evaluation's result is bounded, and so is what a
// node's evaluations give together: a template's holes, a transform's
// keys, an http body's fields are separate evaluations, and six holes of
// 3 MB each were an 18 MB string (a thousand, 3 GB).
func TestFinding10ANodesValuesAreBoundedTogether(t *testing.T) {
	t.Parallel()
	hole := `{{ repeat(\"x\", 3000000) }}`
	for name, node := range map[string]string{
		"template holes": `"format": {"s": "` + strings.Repeat(hole, 6) + `"}`,
		"transform keys": `"set": {"a": "repeat(\"x\", 3000000)", "b": "repeat(\"x\", 3000000)", "c": "repeat(\"x\", 3000000)",
			"d": "repeat(\"x\", 3000000)", "e": "repeat(\"x\", 3000000)", "f": "repeat(\"x\", 3000000)"}`,
		"formats together": `"format": {"a": "` + strings.Repeat(hole, 3) + `", "b": "` + strings.Repeat(hole, 3) + `"}`,
	} {
		g := mustCompile(t, `{"entry": "t", "nodes": [{"id": "t", "type": "transform", `+node+`}]}`)
		out, err := g.Run(context.Background(), RunParams{Hooks: &memHooks{}})
		require.NoError(t, err, name)
		require.Equal(t, Failed, out.Status, name)
		require.Contains(t, out.ErrorMessage, "work budget", name)
	}
	g := mustCompile(t, `{"entry": "t", "nodes": [{"id": "t", "type": "transform", "format": {"s": "`+strings.Repeat(hole, 2)+`"}}]}`)
	out, err := g.Run(context.Background(), RunParams{Hooks: &memHooks{}})
	require.NoError(t, err)
	require.Equal(t, Succeeded, out.Status, out.ErrorMessage)
	require.Len(t, out.Checkpoint.State["s"], 6_000_000)
}

// Finding 10: expr's uniq compares every item with every kept one, with
// no predicate for the meter to count: uniq(1..100000) was minutes of
// CPU that neither a timeout nor a cancel stopped. Items of one scalar
// type are now hashed; others are compared under the meter.
func TestFinding10UniqIsMetered(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]any{
		`len(uniq(1..200000))`:                       200000,
		`len(uniq(map(1..50000, string(# % 1000))))`: 1000,
		`uniq([1, 2.0, 1, "a", 2, "a", 1.0])`:        []any{1, 2.0, "a"},
		`uniq(["b", "a", "b"])`:                      []any{"b", "a"},
	} {
		require.Equal(t, want, evalBounded(t, src, 2*time.Second), src)
	}

	// Mixed items are compared one by one, and that is counted.
	p, err := compileExpr(`uniq(map(1..100000, # % 2 == 0 ? # : string(#)))`)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := run(ctx, p, map[string]any{})
		done <- err
	}()
	select {
	case err := <-done:
		require.Error(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("a uniq of mixed items ran on past its context")
	}
}

// Finding 10: strings.Trim with a cutset that is not ASCII looks the
// cutset through for each rune it trims: trim over a long text of
// cutset runes was text × cutset work in one builtin, unmetered.
func TestFinding10TrimIsLinear(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]any{
		`len(trim(repeat("é", 300000), repeat("x", 300000) + "é"))`: 0,
		`trim("éaé-", "é-")`:                        "a",
		`trim("  a b  ")`:                           "a b",
		`trim("ñaña-b-", repeat("z", 70) + "aeñ-")`: "b",
		`trim("xxaxx", "x")`:                        "a",
		`trim("ñaña", "aeñ")`:                       "",
		`trim("\u00e9ab\u00e9", "\u00e9")`:          "ab",
	} {
		require.Equal(t, want, evalBounded(t, src, time.Second), src)
	}
}

// Finding 10: the meter looked at the context every 256 steps, which is
// long when each step renders a large value: a cancel waited for 256
// renderings. Costly metered steps look at it each time.
func TestFinding10CostlyStepsStopWithinASecondOfCancel(t *testing.T) {
	t.Parallel()
	// Each step renders 100,000 items: tens of milliseconds, so a meter
	// that looked at the context only every 256 steps would run seconds
	// past the deadline, yet one step stays well under a second even
	// under the race detector.
	big := make([]any, 100_000)
	for i := range big {
		big[i] = "some text"
	}
	j, err := json.Marshal(big)
	require.NoError(t, err)
	for _, src := range []string{
		`filter(1..100000, len(toJSON(state.big)) > 0)`,
		`filter(1..100000, len(fromJSON(state.j)) > 0)`,
		`filter(1..100000, len(split(state.j, ",")) > 0)`,
	} {
		p, err := compileExpr(src)
		require.NoError(t, err, src)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		done := make(chan error, 1)
		go func() {
			_, err := run(ctx, p, map[string]any{"big": big, "j": string(j)})
			done <- err
		}()
		select {
		case err := <-done:
			require.ErrorIs(t, err, context.DeadlineExceeded, src)
		case <-time.After(30 * time.Second):
			t.Fatalf("%s ran on past its context", src)
		}
		// The deadline passed 100 ms after the start; it must stop
		// within a second of it.
		require.Less(t, time.Since(deadlineOf(ctx)), time.Second, src)
		cancel()
	}
	// A builtin given an argument of a known wrong type is still refused
	// when saved.
	_, err = compileExpr(`upper(1)`)
	require.ErrorContains(t, err, "cannot use int")
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}
