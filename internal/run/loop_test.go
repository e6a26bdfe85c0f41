package run

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/agent"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/tool"
)

// memRecorder keeps steps in memory.
type memRecorder struct {
	mu    sync.Mutex
	steps []Step
}

func (m *memRecorder) Step(_ context.Context, s *Step, _ *State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.steps = append(m.steps, *s)
	return nil
}

type loopBundle struct {
	loop  *Loop
	model *llmtest.Scripted
	rec   *memRecorder
}

func setupLoop(t *testing.T, turns ...llmtest.Turn) *loopBundle {
	t.Helper()
	m := llmtest.New(turns...)
	reg := llm.NewRegistry()
	reg.Register("openai", m)
	fixed := time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)
	now := func() time.Time { return fixed }
	return &loopBundle{loop: &Loop{Models: reg, Tools: tool.NewRuntime(now), Now: now}, model: m, rec: &memRecorder{}}
}

func spec(mut ...func(*agent.Spec)) agent.Spec {
	s := agent.Spec{Name: "a", Instructions: "Be useful.", Model: "openai/gpt-test", Tools: []agent.ToolRef{{Type: "builtin", Name: "current_time"}}}
	for _, m := range mut {
		m(&s)
	}
	return s
}

func (b *loopBundle) run(t *testing.T, s agent.Spec) Outcome {
	t.Helper()
	return b.loop.Execute(context.Background(), LoopParams{RunID: "r1", Spec: s, Input: "What time is it in Paris?", Recorder: b.rec})
}

func call(id, name, args string) llm.ToolCall {
	return llm.ToolCall{ID: id, Name: name, Arguments: json.RawMessage(args)}
}

func TestToolLoop(t *testing.T) {
	t.Parallel()
	b := setupLoop(t, llmtest.Call(call("c1", "current_time", `{"timezone":"Europe/Paris"}`)), llmtest.Say("It is 10:30 in Paris."))
	out := b.run(t, spec())
	require.Equal(t, StatusSucceeded, out.Status, out.ErrorMessage)
	require.JSONEq(t, `"It is 10:30 in Paris."`, string(out.Output))
	require.Equal(t, llm.Usage{InputTokens: 22, OutputTokens: 13}, out.Usage)

	calls := b.model.Calls()
	require.Len(t, calls, 2)
	require.Equal(t, "gpt-test", calls[0].Model, "the provider prefix is stripped")
	require.Equal(t, "current_time", calls[0].Tools[0].Name)
	require.Equal(t, llm.RoleSystem, calls[0].Messages[0].Role)
	last := calls[1].Messages[len(calls[1].Messages)-1]
	require.Equal(t, llm.RoleTool, last.Role)
	require.Equal(t, "c1", last.ToolCallID)
	require.Contains(t, last.Content, `"iso":"2026-11-22T10:30:00+01:00"`)

	require.Len(t, b.rec.steps, 3)
	require.Equal(t, []string{StepModel, StepTool, StepModel}, []string{b.rec.steps[0].Kind, b.rec.steps[1].Kind, b.rec.steps[2].Kind})
	require.Equal(t, []int{1, 2, 3}, []int{b.rec.steps[0].Seq, b.rec.steps[1].Seq, b.rec.steps[2].Seq})
	require.Equal(t, 12, b.rec.steps[0].InputTokens)
	require.Contains(t, string(b.rec.steps[1].Input), "Europe/Paris")
}

func TestParallelToolCalls(t *testing.T) {
	t.Parallel()
	b := setupLoop(t, llmtest.Call(call("a", "current_time", `{"timezone":"Asia/Tokyo"}`), call("b", "current_time", `{}`)), llmtest.Say("done"))
	out := b.run(t, spec())
	require.Equal(t, StatusSucceeded, out.Status)
	msgs := b.model.Calls()[1].Messages
	// Results come back in the order the model asked, whatever order they finished in.
	require.Equal(t, "a", msgs[len(msgs)-2].ToolCallID)
	require.Contains(t, msgs[len(msgs)-2].Content, "Asia/Tokyo")
	require.Equal(t, "b", msgs[len(msgs)-1].ToolCallID)
	require.Contains(t, msgs[len(msgs)-1].Content, `"timezone":"UTC"`)
	require.Len(t, b.rec.steps, 4)
}

// A bad call is the model's to fix: it gets the error as the tool's answer.
func TestBadToolCallsGoBackToTheModel(t *testing.T) {
	t.Parallel()
	b := setupLoop(t,
		llmtest.Call(call("1", "rm_rf", `{}`), call("2", "current_time", `{"timezone":42}`), call("3", "current_time", `{not json`), call("4", "current_time", `{"timezone":"Mars/Base"}`)),
		llmtest.Say("sorry"))
	out := b.run(t, spec())
	require.Equal(t, StatusSucceeded, out.Status, "the run goes on")
	msgs := b.model.Calls()[1].Messages
	results := msgs[len(msgs)-4:]
	require.Contains(t, results[0].Content, `no such tool \"rm_rf\"; available tools: current_time`)
	require.Contains(t, results[1].Content, "invalid arguments")
	require.Contains(t, results[2].Content, "invalid arguments")
	require.Contains(t, results[3].Content, "unknown time zone")
	for _, s := range b.rec.steps[1:5] {
		require.Equal(t, StepFailed, s.Status)
		require.NotEmpty(t, s.Error)
	}
}

func TestMaxTurns(t *testing.T) {
	t.Parallel()
	b := setupLoop(t, llmtest.Call(call("x", "current_time", `{}`)))
	out := b.run(t, spec(func(s *agent.Spec) { s.ModelSettings.MaxTurns = 3 }))
	require.Equal(t, StatusFailed, out.Status)
	require.Equal(t, CodeMaxTurnsExceeded, out.ErrorCode)
	require.Len(t, b.model.Calls(), 3)
	require.Len(t, b.rec.steps, 6, "every step up to the stop is recorded")

	d := setupLoop(t, llmtest.Call(call("x", "current_time", `{}`)))
	require.Equal(t, CodeMaxTurnsExceeded, d.run(t, spec()).ErrorCode)
	require.Len(t, d.model.Calls(), DefaultMaxTurns)
}

func TestProviderFailures(t *testing.T) {
	t.Parallel()
	b := setupLoop(t, llmtest.Fail(&llm.Error{Provider: "openai", Status: 503, Err: errors.New("overloaded")}))
	out := b.run(t, spec())
	require.Equal(t, CodeProviderError, out.ErrorCode)
	require.Contains(t, out.ErrorMessage, "overloaded")
	require.Len(t, b.rec.steps, 1)
	require.Equal(t, StepFailed, b.rec.steps[0].Status)

	out = b.run(t, spec(func(s *agent.Spec) { s.Model = "anthropic/claude" }))
	require.Equal(t, CodeProviderUnavailable, out.ErrorCode)

	out = b.run(t, spec(func(s *agent.Spec) { s.Tools = []agent.ToolRef{{Type: "mcp", ServerID: "x"}} }))
	require.Equal(t, CodeToolUnavailable, out.ErrorCode)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out = b.loop.Execute(ctx, LoopParams{Spec: spec(), Input: "x", Recorder: b.rec})
	require.Equal(t, CodeCancelled, out.ErrorCode)
}

func TestStructuredOutput(t *testing.T) {
	t.Parallel()
	schema := json.RawMessage(`{"type":"object","properties":{"plan":{"type":"string"}},"required":["plan"],"additionalProperties":false}`)
	ok := setupLoop(t, llmtest.Say(`{"plan":"study"}`))
	out := ok.run(t, spec(func(s *agent.Spec) { s.OutputSchema = schema }))
	require.Equal(t, StatusSucceeded, out.Status, out.ErrorMessage)
	require.JSONEq(t, `{"plan":"study"}`, string(out.Output))
	require.Equal(t, schema, ok.model.Calls()[0].OutputSchema, "the schema is passed to the model")

	bad := setupLoop(t, llmtest.Say(`{"plan":3}`))
	out = bad.run(t, spec(func(s *agent.Spec) { s.OutputSchema = schema }))
	require.Equal(t, CodeInvalidOutput, out.ErrorCode)
	require.True(t, strings.Contains(out.ErrorMessage, "schema"), out.ErrorMessage)
}

// agents is an in-memory AgentLoader.
type agents map[string]*agent.Spec

func (a agents) SpecOf(_ context.Context, id string) (*agent.Spec, error) {
	if s, ok := a[id]; ok {
		return s, nil
	}
	return nil, errors.New("not found")
}

func TestOutputRepair(t *testing.T) {
	t.Parallel()
	schema := json.RawMessage(`{"type":"object","properties":{"plan":{"type":"string"}},"required":["plan"]}`)
	b := setupLoop(t, llmtest.Say(`Sure! The plan is to study.`), llmtest.Say("```json\n{\"plan\":\"study\"}\n```"))
	out := b.run(t, spec(func(s *agent.Spec) { s.OutputSchema = schema }))
	require.Equal(t, StatusSucceeded, out.Status, out.ErrorMessage)
	require.JSONEq(t, `{"plan":"study"}`, string(out.Output))
	calls := b.model.Calls()
	require.Len(t, calls, 2, "one repair attempt")
	last := calls[1].Messages[len(calls[1].Messages)-1]
	require.Equal(t, llm.RoleUser, last.Role)
	require.Contains(t, last.Content, "not valid JSON")
}

func TestGuardrails(t *testing.T) {
	t.Parallel()
	long := setupLoop(t, llmtest.Say("never reached"))
	out := long.run(t, spec(func(s *agent.Spec) {
		s.Guardrails = []agent.Guardrail{{Type: "max_length", Stage: "input", MaxChars: 10}}
	}))
	require.Equal(t, CodeGuardrailTripped, out.ErrorCode)
	require.Contains(t, out.ErrorMessage, "more than the 10 allowed")
	require.Empty(t, long.model.Calls(), "the model is never called")
	require.Equal(t, StepGuardrail, long.rec.steps[0].Kind)
	require.Equal(t, StepFailed, long.rec.steps[0].Status)

	leak := setupLoop(t, llmtest.Say("The admin password is hunter2"))
	out = leak.run(t, spec(func(s *agent.Spec) {
		s.Guardrails = []agent.Guardrail{{Type: "blocked_patterns", Stage: "output", Patterns: []string{"(?i)password"}}}
	}))
	require.Equal(t, CodeGuardrailTripped, out.ErrorCode)
	require.Contains(t, out.ErrorMessage, "blocked pattern #1")
	require.Empty(t, out.Output, "the blocked answer is not returned")

	// A model judge: the second model registered answers for the guardrail.
	judged := setupLoop(t, llmtest.Say("fine answer"))
	judge := llmtest.New(llmtest.Say(`{"violation":true,"reason":"asks for exam answers"}`))
	judged.loop.Models.Register("anthropic", judge)
	out = judged.run(t, spec(func(s *agent.Spec) {
		s.Guardrails = []agent.Guardrail{{Type: "model", Stage: "input", Model: "anthropic/judge", Prompt: "no cheating"}}
	}))
	require.Equal(t, CodeGuardrailTripped, out.ErrorCode)
	require.Contains(t, out.ErrorMessage, "asks for exam answers")
	require.Contains(t, judge.Calls()[0].Messages[0].Content, "no cheating")

	broken := setupLoop(t, llmtest.Say("x"))
	broken.loop.Models.Register("anthropic", llmtest.New(llmtest.Say("I think it is fine?")))
	out = broken.run(t, spec(func(s *agent.Spec) {
		s.Guardrails = []agent.Guardrail{{Type: "model", Stage: "input", Model: "anthropic/judge", Prompt: "no cheating"}}
	}))
	require.Equal(t, CodeGuardrailError, out.ErrorCode, "a judge that cannot decide fails closed")
}

func TestHandoff(t *testing.T) {
	t.Parallel()
	billing := &agent.Spec{Name: "Billing Desk", Description: "Refunds.", Instructions: "You handle refunds.", Model: "anthropic/claude-test"}
	b := setupLoop(t, llmtest.Call(call("h", "transfer_to_billing_desk", `{}`)))
	claude := llmtest.New(llmtest.Say("Your refund is on its way."))
	b.loop.Models.Register("anthropic", claude)
	b.loop.Agents = agents{"billing": billing}
	out := b.run(t, spec(func(s *agent.Spec) { s.Handoffs = []string{"billing"} }))
	require.Equal(t, StatusSucceeded, out.Status, out.ErrorMessage)
	require.JSONEq(t, `"Your refund is on its way."`, string(out.Output))

	require.Equal(t, "transfer_to_billing_desk", b.model.Calls()[0].Tools[1].Name)
	got := claude.Calls()[0]
	require.Equal(t, "claude-test", got.Model, "the next agent's own model")
	require.Equal(t, "You handle refunds.", got.Messages[0].Content, "under its instructions")
	require.Equal(t, "What time is it in Paris?", got.Messages[1].Content, "with the conversation so far")
	kinds := []string{}
	for _, s := range b.rec.steps {
		kinds = append(kinds, s.Kind)
	}
	require.Equal(t, []string{StepModel, StepTool, StepHandoff, StepModel}, kinds)
}

func TestAgentAsTool(t *testing.T) {
	t.Parallel()
	expert := &agent.Spec{Name: "Math Expert", Instructions: "Answer math.", Model: "gemini/flash"}
	b := setupLoop(t, llmtest.Call(call("m", "ask_math_expert", `{"input":"2+2?"}`)), llmtest.Say("The expert says 4."))
	gem := llmtest.New(llmtest.Say("4"))
	b.loop.Models.Register("gemini", gem)
	b.loop.Agents = agents{"math": expert}
	out := b.run(t, spec(func(s *agent.Spec) { s.Tools = append(s.Tools, agent.ToolRef{Type: "agent", ID: "math"}) }))
	require.Equal(t, StatusSucceeded, out.Status, out.ErrorMessage)
	require.Equal(t, "2+2?", gem.Calls()[0].Messages[1].Content)
	msgs := b.model.Calls()[1].Messages
	require.Equal(t, `"4"`, msgs[len(msgs)-1].Content)
	require.Equal(t, llm.Usage{InputTokens: 32, OutputTokens: 18}, out.Usage, "the nested agent's tokens count")

	// Loaded agents that are gone fail the run clearly.
	gone := setupLoop(t, llmtest.Say("x"))
	gone.loop.Agents = agents{}
	out = gone.run(t, spec(func(s *agent.Spec) { s.Handoffs = []string{"deleted"} }))
	require.Equal(t, CodeToolUnavailable, out.ErrorCode)
}

func TestFallbackChain(t *testing.T) {
	t.Parallel()
	limited := &llm.Error{Provider: "openai", Status: 429, Retryable: true, RateLimit: true, Err: errors.New("rate limited")}
	b := setupLoop(t, llmtest.Fail(limited))
	gem := llmtest.New(llmtest.Say("from gemini"))
	b.loop.Models.Register("gemini", gem)
	withFallback := spec(func(s *agent.Spec) {
		s.Tools = nil
		s.ModelSettings.Fallbacks = []string{"anthropic/missing", "gemini/flash"}
	})
	out := b.run(t, withFallback)
	require.Equal(t, StatusSucceeded, out.Status, out.ErrorMessage)
	require.JSONEq(t, `"from gemini"`, string(out.Output))
	require.Len(t, b.model.Calls(), 1)
	require.Equal(t, "flash", gem.Calls()[0].Model)
	require.Equal(t, []StepStatus{StepFailed, StepSucceeded}, []StepStatus{b.rec.steps[0].Status, b.rec.steps[1].Status}, "every attempt is in the trace")
	require.Equal(t, "openai/gpt-test", b.rec.steps[0].Name)
	require.Equal(t, "gemini/flash", b.rec.steps[1].Name)

	// During the cool-down the rate-limited provider is not tried again.
	out = b.run(t, withFallback)
	require.Equal(t, StatusSucceeded, out.Status)
	require.Len(t, b.model.Calls(), 1, "openai skipped while cooling down")
	require.Len(t, gem.Calls(), 2)

	// Without a fallback, the failure is the run's.
	plain := setupLoop(t, llmtest.Fail(limited))
	out = plain.run(t, spec(func(s *agent.Spec) { s.Tools = nil }))
	require.Equal(t, CodeProviderError, out.ErrorCode)
	require.Contains(t, out.ErrorMessage, "rate limited")
}

// A model asking web_fetch for an internal address gets a refusal as the
// tool's answer; nothing is contacted and the run goes on.
func TestSSRFThroughTheAgent(t *testing.T) {
	t.Parallel()
	b := setupLoop(t, llmtest.Call(call("f", "web_fetch", `{"url":"http://169.254.169.254/latest/meta-data/iam/"}`)), llmtest.Say("I cannot read that."))
	out := b.run(t, spec(func(s *agent.Spec) { s.Tools = []agent.ToolRef{{Type: "builtin", Name: "web_fetch"}} }))
	require.Equal(t, StatusSucceeded, out.Status)
	msgs := b.model.Calls()[1].Messages
	require.Contains(t, msgs[len(msgs)-1].Content, "not public")
	require.Equal(t, StepFailed, b.rec.steps[1].Status)
	require.Contains(t, b.rec.steps[1].Error, "not public")
}

// A rate limit cools down the credential that hit it: a user's own key
// running dry sends only that user to the fallback, not everyone on the
// platform's key, and not the next user with their own key.
func TestCooldownIsPerKey(t *testing.T) {
	t.Parallel()
	limited := &llm.Error{Provider: "openai", Status: 429, Retryable: true, RateLimit: true, Err: errors.New("rate limited")}
	b := setupLoop(t, llmtest.Say("platform one"), llmtest.Say("platform two"))
	gem := llmtest.New(llmtest.Say("fallback one"), llmtest.Say("fallback two"))
	b.loop.Models.Register("gemini", gem)
	aliceKey := llmtest.New(llmtest.Fail(limited))
	bobKey := llmtest.New(llmtest.Say("bob's own"))
	s := spec(func(s *agent.Spec) {
		s.Tools = nil
		s.ModelSettings.Fallbacks = []string{"gemini/flash"}
	})
	runAs := func(ctx context.Context) Outcome {
		return b.loop.Execute(ctx, LoopParams{RunID: "r", Spec: s, Input: "hi", Recorder: &memRecorder{}})
	}
	alice := llm.WithOverrides(context.Background(), "alice", map[string]llm.Provider{"openai": aliceKey})
	bob := llm.WithOverrides(context.Background(), "bob", map[string]llm.Provider{"openai": bobKey})

	out := runAs(alice)
	require.JSONEq(t, `"fallback one"`, string(out.Output), out.ErrorMessage)
	require.Len(t, aliceKey.Calls(), 1)

	out = runAs(context.Background())
	require.JSONEq(t, `"platform one"`, string(out.Output), "the platform's key is not cooling down")
	out = runAs(bob)
	require.JSONEq(t, `"bob's own"`, string(out.Output), "nor is another user's key")

	out = runAs(alice)
	require.JSONEq(t, `"fallback two"`, string(out.Output))
	require.Len(t, aliceKey.Calls(), 1, "alice's key is skipped while it cools down")
	require.Len(t, b.model.Calls(), 1)
	require.Len(t, bobKey.Calls(), 1)
}
