package run

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/agent"
	"github.com/pulse-run/pulse/internal/llm"
)

// Finding 10: an agent may carry 1,000 patterns (20 guardrails of 50). A
// check against a long text is bounded: one that would cost more than the
// work budget is refused at once (the guardrail fails closed) instead of
// taking minutes, and an ordinary check still matches.
func TestFinding10RegexGuardrailIsBoundedAtRunTime(t *testing.T) {
	t.Parallel()
	patterns := make([]string, 50)
	for i := range patterns {
		patterns[i] = `(?:(?:a|b|ab|ba){100})!` // 703 instructions, ~0.1 s each on 20k characters
	}
	g := agent.Guardrail{Type: "blocked_patterns", Stage: "input", Patterns: patterns}
	text := strings.Repeat("ab", 10_000)

	type result struct {
		reason string
		err    error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		reason, err := (&Loop{}).check(context.Background(), g, newCheck(text))
		done <- result{reason, err}
	}()
	select {
	case r := <-done:
		require.Less(t, time.Since(start), time.Second)
		require.Error(t, r.err, "a check beyond the budget cannot decide")
		require.Contains(t, r.err.Error(), "too long to check")
	case <-time.After(20 * time.Second):
		t.Fatal("the guardrail check was not bounded")
	}

	ok := agent.Guardrail{Type: "blocked_patterns", Stage: "input", Patterns: []string{`(?i)\bpassword\b`, `(?:(?:a|b|ab|ba){20})!`}}
	reason, err := (&Loop{}).check(context.Background(), ok, newCheck(strings.Repeat("x", 50_000)+" my Password is"))
	require.NoError(t, err)
	require.Equal(t, "matches blocked pattern #1", reason)

	// A pattern stored before the save-time limits is refused here too.
	_, err = (&Loop{}).check(context.Background(), agent.Guardrail{Type: "blocked_patterns", Patterns: []string{`(?:(?:a|b|ab|ba){1000})!`}}, newCheck("ab"))
	require.ErrorContains(t, err, "too complex")

	// The stage's pattern guardrails share one budget for the text: many
	// guardrails that each fit do not add up past it.
	c := newCheck(strings.Repeat("x", 1000))
	small := agent.Guardrail{Type: "blocked_patterns", Patterns: []string{`a+b`}}
	n, err := agent.PatternSize(`a+b`)
	require.NoError(t, err)
	c.work = 2*n*1000 + n // two checks, not three
	for range 2 {
		_, err = (&Loop{}).check(context.Background(), small, c)
		require.NoError(t, err)
	}
	_, err = (&Loop{}).check(context.Background(), small, c)
	require.ErrorContains(t, err, "too long to check")
}

func newCheck(text string) *checkState {
	return &checkState{text: text, usage: &llm.Usage{}, work: agent.PatternWorkBudget}
}
