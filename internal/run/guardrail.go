package run

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/pulse-run/pulse/internal/agent"
	"github.com/pulse-run/pulse/internal/llm"
)

// guard runs the agent's guardrails for a stage on text. A tripwire ends
// the run with the reason. A model judge that cannot answer fails closed.
// passed counts the guardrails (in the agent's list) already decided, so a
// resumed run does not check one twice; it is part of the checkpoint.
func (l *Loop) guard(ctx context.Context, rec *stepper, spec agent.Spec, stage, text string, usage *llm.Usage, passed *int) (Outcome, bool) {
	c := &checkState{text: text, usage: usage, work: agent.PatternWorkBudget}
	for i, g := range spec.Guardrails {
		if i < *passed {
			continue
		}
		*passed = i + 1
		if g.Stage != stage {
			continue
		}
		start := l.Now()
		reason, err := l.check(ctx, g, c)
		name := fmt.Sprintf("%s:%s#%d", stage, g.Type, i)
		if rerr := rec.guardrail(ctx, name, start, reason, err); rerr != nil {
			return failed(CodeStorageError, rerr.Error(), *usage), true
		}
		if err != nil {
			return failed(CodeGuardrailError, fmt.Sprintf("%s guardrail %s could not decide: %v", stage, g.Type, err), *usage), true
		}
		if reason != "" {
			return failed(CodeGuardrailTripped, fmt.Sprintf("%s guardrail %s: %s", stage, g.Type, reason), *usage), true
		}
	}
	return Outcome{}, false
}

// checkState is one text checked by a stage's guardrails.
type checkState struct {
	text  string
	usage *llm.Usage
	// work is what is left of agent.PatternWorkBudget for this text: all
	// the stage's pattern guardrails share one budget.
	work int
}

// check returns why c.text trips g ("" if it passes).
func (l *Loop) check(ctx context.Context, g agent.Guardrail, c *checkState) (string, error) {
	text, usage := c.text, c.usage
	switch g.Type {
	case "max_length":
		if n := utf8.RuneCountInString(text); n > g.MaxChars {
			return fmt.Sprintf("%d characters, more than the %d allowed", n, g.MaxChars), nil
		}
	case "blocked_patterns":
		return matchPatterns(ctx, g.Patterns, c)
	case "model":
		return l.judge(ctx, g, text, usage)
	default:
		return "", fmt.Errorf("unknown guardrail type %q", g.Type)
	}
	return "", nil
}

// matchPatterns says which blocked pattern text matches ("" if none).
// Matching costs up to the program size times the text length and cannot
// be interrupted, so a check whose bound exceeds what is left of the
// text's agent.PatternWorkBudget is refused (the guardrail fails closed)
// rather than started. Agents
// saved before the save-time limits are held to them here too.
func matchPatterns(ctx context.Context, patterns []string, c *checkState) (string, error) {
	text := c.text
	res := make([]*regexp.Regexp, len(patterns))
	total := 0
	for i, p := range patterns {
		re, n, err := agent.CompilePattern(p)
		if err != nil {
			return "", fmt.Errorf("pattern #%d %s", i+1, err)
		}
		res[i], total = re, total+n
	}
	cost := total * len(text)
	if cost > c.work {
		return "", fmt.Errorf("the text (%d bytes) is too long to check against patterns of %d instructions: at most %d bytes",
			len(text), total, c.work/max(total, 1))
	}
	c.work -= cost
	for i, re := range res {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if re.MatchString(text) {
			return fmt.Sprintf("matches blocked pattern #%d", i+1), nil
		}
	}
	return "", nil
}

var judgeSchema = json.RawMessage(`{"type":"object","properties":{"violation":{"type":"boolean"},"reason":{"type":"string"}},"required":["violation","reason"],"additionalProperties":false}`)

// judge asks a model whether text breaks the guardrail's rule.
func (l *Loop) judge(ctx context.Context, g agent.Guardrail, text string, usage *llm.Usage) (string, error) {
	provider, model, err := l.Models.Resolve(ctx, g.Model)
	if err != nil {
		return "", err
	}
	resp, err := provider.Chat(ctx, llm.Request{Model: model, OutputSchema: judgeSchema, Messages: []llm.Message{
		{Role: llm.RoleSystem, Content: "You are a strict content guardrail. Decide whether the text violates this rule:\n" + g.Prompt +
			"\nAnswer only with JSON: {\"violation\": true|false, \"reason\": \"…\"}."},
		{Role: llm.RoleUser, Content: text},
	}})
	if err != nil {
		return "", err
	}
	*usage = usage.Add(resp.Usage)
	var v struct {
		Violation *bool  `json:"violation"`
		Reason    string `json:"reason"`
	}
	body := strings.TrimSpace(resp.Message.Content)
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Violation == nil {
		return "", fmt.Errorf("the judge did not answer with the expected JSON")
	}
	if *v.Violation {
		return "judged a violation: " + v.Reason, nil
	}
	return "", nil
}
