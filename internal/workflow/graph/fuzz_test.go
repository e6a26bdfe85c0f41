package graph

import (
	"context"
	"testing"
	"time"
)

// FuzzExpression compiles and evaluates expressions on a small state,
// within the limits: whatever the source, compiling and running end
// without a panic and soon after the context does.
func FuzzExpression(f *testing.F) {
	for _, s := range []string{
		"state.n > 3", "state.a[0] + state.n", `"x" + state.s`, "len(state.a) == 2 ? 'two' : 'other'",
		finding10Expr, "map(1..100, # * 2)", "reduce(state.a, #acc + #, 0)", "let x = state.s + state.s; x + x",
		`repeat("ab", 1000000)`, "1..100000000", "toJSON(state)", "sortBy(state.a, -#)", "state.m?.k ?? 'none'",
		"groupBy(state.a, # > 1)", "[state.a, state.a, state.a]", "{'k': state.n}", "now() > date('2020-01-01')",
		"__pulse_meter", "__pulse_tick(__pulse_meter, 1)", "filter(state.a, __pulse_add(1, 2, 3))", "state.n / 0",
		"int('x')", "state.a[9]", "-state.n ** 100", "upper(state.s) matches '^X+$'", "split(state.s, '')",
	} {
		f.Add(s)
	}
	state := map[string]any{"n": 3, "s": "xyz", "a": []any{1.0, 2.0}, "m": map[string]any{"k": "v"}}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := compileExpr(src)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _ = run(ctx, p, state)
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("%q ran for %v", src, d)
		}
	})
}
