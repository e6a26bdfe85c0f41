package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/pulse-run/pulse/internal/agent"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/schema"
	"github.com/pulse-run/pulse/internal/tool"
)

// DefaultMaxTurns bounds model calls per run when the agent sets none.
const DefaultMaxTurns = 10

// Recorder commits a step before the loop goes on, so a run's trace is
// complete up to the moment it stopped, together with the run's state after
// it (the checkpoint a resumed run continues from).
type Recorder interface {
	Step(ctx context.Context, s *Step, checkpoint *State) error
}

// Event is live progress of a run, for streaming.
type Event struct {
	Type events.Type
	Data any
}

// Outcome is how a loop ended.
type Outcome struct {
	Status       Status // succeeded, failed or requires_action
	Output       json.RawMessage
	ErrorCode    ErrorCode
	ErrorMessage string
	Usage        llm.Usage
	CostMicros   int64 // the model steps' cost, in micro-credits
	// Messages are this run's part of the conversation: the user's input,
	// then the model's messages and the tool results, in order.
	Messages []llm.Message
	// State is set when the run paused for approval.
	State *State
	// Transient failures (a provider still overloaded after its retries,
	// the database unreachable) may succeed on another attempt.
	Transient bool
}

// boundTool is a tool the model may call in this run.
type boundTool struct {
	spec          llm.Tool
	schema        *schema.Schema
	run           tool.Func
	handoff       *agent.Spec // a transfer_to_… tool: continue as this agent
	agentOf       bool        // an agent called as a tool (its usage is added)
	keyed         bool        // its calls carry an idempotency key (function tools post it)
	needsApproval bool        // a person approves each call
}

// AgentLoader gives the loop the agents an agent hands off to or calls as
// tools (internal/agent implements it).
type AgentLoader interface {
	SpecOf(ctx context.Context, id string) (*agent.Spec, error)
}

// Loop runs one agent on one input. It is independent of storage: the
// Recorder persists, the Registry reaches models.
type Loop struct {
	Models *llm.Registry
	Agents AgentLoader   // nil: no handoffs or agent tools
	Tools  *tool.Runtime // built-in tools
	Prices *llm.Prices   // nil: costs are zero
	Now    func() time.Time
	Tracer trace.Tracer // nil: no spans

	// cooling maps a credential (llm.KeyOf) to when it may be tried again after a
	// rate limit, so later runs go straight to their fallbacks.
	cooling sync.Map
}

// RateLimitCooldown is how long a rate-limited provider is skipped when a
// fallback exists.
const RateLimitCooldown = 30 * time.Second

// LoopParams is one run to execute.
type LoopParams struct {
	RunID    string
	Spec     agent.Spec
	Input    string
	History  []llm.Message // earlier turns of the conversation
	Recorder Recorder
	Events   func(Event) // live progress (SSE); nil: none
	depth    int         // agents called as tools run nested loops, bounded
}

const maxAgentDepth = 3

// State is a run in progress: everything needed to continue it, committed
// with every step. A run resumed from it (after a crash, a restart or an
// approval) repeats no committed step.
type State struct {
	Spec       agent.Spec     `json:"spec"` // the agent in charge (after any handoff)
	Messages   []llm.Message  `json:"messages"`
	Mark       int            `json:"mark"` // where this run's messages begin
	Turn       int            `json:"turn"`
	Usage      llm.Usage      `json:"usage"`
	Repaired   bool           `json:"repaired"`
	Seq        int            `json:"seq"` // steps committed so far
	MaxTurns   int            `json:"max_turns"`
	CostMicros int64          `json:"cost_micros"`
	Guarded    int            `json:"guarded,omitempty"`     // input guardrails passed
	OutGuarded int            `json:"out_guarded,omitempty"` // output guardrails passed
	ToRun      []llm.ToolCall `json:"to_run,omitempty"`      // calls the model asked for, not yet answered
	Rejected   bool           `json:"rejected,omitempty"`    // ToRun are answered as rejected, not run
	Reason     string         `json:"reason,omitempty"`      // the rejection's reason
	Pending    []llm.ToolCall `json:"pending,omitempty"`     // calls waiting for approval
	Asked      bool           `json:"asked,omitempty"`       // the approval request is recorded
	Decision   *Decision      `json:"decision,omitempty"`    // a person's answer, not yet applied
}

// Decision is a person's answer to pending tool calls.
type Decision struct {
	Approved bool   `json:"approved"`
	Reason   string `json:"reason,omitempty"`
}

// NewState is where a run starts: the agent's instructions, the earlier
// conversation and the new input.
func NewState(spec agent.Spec, input string, history []llm.Message) *State {
	st := &State{Spec: spec, MaxTurns: spec.ModelSettings.MaxTurns}
	if st.MaxTurns <= 0 {
		st.MaxTurns = DefaultMaxTurns
	}
	// Room for the system prompt, the input and a turn with one tool call;
	// more turns grow it.
	st.Messages = make([]llm.Message, 0, 6+len(history))
	st.Messages = append(st.Messages, llm.Message{Role: llm.RoleSystem, Content: spec.Instructions})
	st.Messages = append(st.Messages, history...)
	st.Mark = len(st.Messages)
	st.Messages = append(st.Messages, llm.Message{Role: llm.RoleUser, Content: input})
	return st
}

// Execute runs the agent loop from the start: check the input guardrails;
// call the model; if it asks for tools, run them (concurrently when it asks
// for several) and give it the results; if it hands off, continue as the
// other agent; repeat until it answers (checked against the output schema,
// with one chance to repair, and the output guardrails) or max_turns is
// reached. A call to a tool that needs approval pauses the run
// (StatusRequiresAction) with its State.
func (l *Loop) Execute(ctx context.Context, p LoopParams) Outcome {
	return l.Continue(ctx, p, NewState(p.Spec, p.Input, p.History))
}

// Resume continues a paused run after a person approved or rejected its
// pending tool calls.
func (l *Loop) Resume(ctx context.Context, p LoopParams, st *State, approved bool, reason string) Outcome {
	st.Decision = &Decision{Approved: approved, Reason: reason}
	return l.Continue(ctx, p, st)
}

// Continue runs a run from its state, wherever it stopped: before its
// input guardrails, with tool calls to answer, waiting for approval or with
// a final answer to check.
func (l *Loop) Continue(ctx context.Context, p LoopParams, st *State) (result Outcome) {
	ctx, span := l.startRun(ctx, p, "run")
	defer endRun(span, &result)
	rec := &stepper{rec: p.Recorder, now: l.Now, events: p.Events, seq: st.Seq, prices: l.Prices, cost: st.CostMicros, tracer: l.Tracer, state: st}
	rec.onRetry = func(r llm.Retried) { rec.retries = append(rec.retries, r) } // once per run, not per model call
	done := func(o Outcome) Outcome {
		o.Messages = st.Messages[st.Mark:]
		o.CostMicros = rec.cost
		o.Usage = st.Usage
		return o
	}
	input := st.Messages[st.Mark].Content
	if out, tripped := l.guard(ctx, rec, st.Spec, "input", input, &st.Usage, &st.Guarded); tripped {
		return done(out)
	}
	if len(st.Pending) > 0 {
		if st.Decision == nil {
			if !st.Asked {
				st.Asked = true
				if err := rec.approval(ctx, st.Pending, "requested", ""); err != nil {
					return done(failed(CodeStorageError, err.Error(), st.Usage))
				}
			}
			o := done(Outcome{Status: StatusRequiresAction})
			o.State = st
			return o
		}
		d := *st.Decision
		decision := "approved"
		if !d.Approved {
			decision = "rejected"
		}
		st.ToRun, st.Rejected, st.Reason = st.Pending, !d.Approved, d.Reason
		st.Pending, st.Asked, st.Decision = nil, false, nil
		if err := rec.approval(ctx, st.ToRun, decision, d.Reason); err != nil {
			return done(failed(CodeStorageError, err.Error(), st.Usage))
		}
	}
	return done(l.loop(ctx, p, rec, st))
}

func (l *Loop) loop(ctx context.Context, p LoopParams, rec *stepper, st *State) Outcome {
	tools, err := l.bind(ctx, st.Spec, p.depth)
	if err != nil {
		return failed(CodeToolUnavailable, err.Error(), st.Usage)
	}
	specs := specsOf(tools) // the same for every turn until a handoff
	for {
		if ctx.Err() != nil {
			return failed(CodeCancelled, "the run was cancelled", st.Usage)
		}
		if len(st.ToRun) > 0 {
			handoff, out := l.answerCalls(ctx, p, rec, st, tools)
			if out != nil {
				return *out
			}
			if handoff != nil {
				if out := l.switchTo(ctx, rec, st, handoff); out != nil {
					return *out
				}
				if tools, err = l.bind(ctx, st.Spec, p.depth); err != nil {
					return failed(CodeToolUnavailable, err.Error(), st.Usage)
				}
				specs = specsOf(tools)
			}
			continue
		}
		cur := st.Spec
		if last := st.Messages[len(st.Messages)-1]; last.Role == llm.RoleAssistant && len(last.ToolCalls) == 0 {
			output, problem := finalOutput(last.Content, cur.OutputSchema)
			if problem != "" && !st.Repaired {
				// One chance to fix the shape, as the Agents SDK gives.
				st.Repaired = true
				st.Messages = append(st.Messages, llm.Message{Role: llm.RoleUser, Content: "Your answer " + problem +
					". Reply again with only a JSON value that matches the required schema."})
				continue
			}
			if problem != "" {
				return failed(CodeInvalidOutput, "the final answer "+problem, st.Usage)
			}
			if out, tripped := l.guard(ctx, rec, cur, "output", last.Content, &st.Usage, &st.OutGuarded); tripped {
				return out
			}
			return Outcome{Status: StatusSucceeded, Output: output, Usage: st.Usage}
		}
		if len(st.Pending) > 0 {
			// Nothing of this response runs until a person decides.
			st.Asked = true
			if err := rec.approval(ctx, st.Pending, "requested", ""); err != nil {
				return failed(CodeStorageError, err.Error(), st.Usage)
			}
			return Outcome{Status: StatusRequiresAction, Usage: st.Usage, State: st}
		}
		// Turn counts answered model calls: a failed attempt, recorded and
		// retried, does not use one up.
		if st.Turn >= st.MaxTurns {
			return failed(CodeMaxTurnsExceeded, fmt.Sprintf("the agent did not finish within %d model calls", st.MaxTurns), st.Usage)
		}
		req := llm.Request{Messages: st.Messages, Tools: specs, Temperature: cur.ModelSettings.Temperature,
			TopP: cur.ModelSettings.TopP, MaxTokens: cur.ModelSettings.MaxTokens, OutputSchema: cur.OutputSchema}
		// The answer joins the state before its step is committed, so the
		// checkpoint holds it: a resumed run never asks the model again.
		apply := func(resp *llm.Response) {
			st.Turn++
			st.Usage = st.Usage.Add(resp.Usage)
			st.Messages = append(st.Messages, resp.Message)
			calls := resp.Message.ToolCalls
			for _, c := range calls {
				if t := tools[c.Name]; t != nil && t.needsApproval {
					st.Pending = calls
					return
				}
			}
			st.ToRun = calls
		}
		if code, err := l.chat(ctx, rec, cur, req, apply); err != nil {
			o := failed(code, err.Error(), st.Usage)
			o.Transient = (code == CodeStorageError && !errors.Is(err, errLeaseLost)) || (code == CodeProviderError && llm.Classify(err).Retryable())
			return o
		}
	}
}

// answerCalls runs (or, once rejected, answers without running) the tool
// calls in st.ToRun, commits a step for each, and returns the first
// successful handoff among them.
func (l *Loop) answerCalls(ctx context.Context, p LoopParams, rec *stepper, st *State, tools map[string]*boundTool) (*boundTool, *Outcome) {
	calls := st.ToRun
	var results []toolResult
	if st.Rejected {
		results = make([]toolResult, len(calls))
		for i := range results {
			msg := "a person rejected this call"
			if st.Reason != "" {
				msg += ": " + st.Reason
			}
			results[i] = toolResult{err: errors.New(msg), started: l.Now()}
		}
	} else {
		for _, c := range calls {
			if rec.watched() {
				rec.emit(events.ToolCalled, map[string]any{"call_id": c.ID, "name": c.Name, "arguments": string(c.Arguments)})
			}
		}
		var sub llm.Usage
		results, sub = l.callTools(ctx, tools, calls, p.RunID, rec.seq+1)
		st.Usage = st.Usage.Add(sub)
	}
	var handoff *boundTool
	for i, c := range calls {
		if t := tools[c.Name]; t != nil && t.handoff != nil && handoff == nil && results[i].err == nil {
			handoff = t
		}
		if rec.watched() {
			res := map[string]any{"call_id": c.ID, "name": c.Name}
			if results[i].err != nil {
				res["error"] = results[i].err.Error()
			} else {
				res["output"] = results[i].output
			}
			rec.emit(events.ToolResult, res)
		}
		st.Messages = append(st.Messages, llm.Message{Role: llm.RoleTool, ToolCallID: c.ID, Name: c.Name, Content: results[i].text()})
		st.ToRun = calls[i+1:]
		if len(st.ToRun) == 0 {
			st.ToRun, st.Rejected, st.Reason = nil, false, ""
		}
		if err := rec.tool(ctx, c, results[i]); err != nil {
			o := failed(CodeStorageError, err.Error(), st.Usage)
			return nil, &o
		}
	}
	return handoff, nil
}

// switchTo hands the conversation to another agent: it sees the whole
// conversation under its own instructions and tools.
func (l *Loop) switchTo(ctx context.Context, rec *stepper, st *State, handoff *boundTool) *Outcome {
	from := st.Spec.Name
	st.Spec = *handoff.handoff
	st.Messages[0] = llm.Message{Role: llm.RoleSystem, Content: st.Spec.Instructions}
	if err := rec.handoff(ctx, from, st.Spec.Name); err != nil {
		o := failed(CodeStorageError, err.Error(), st.Usage)
		return &o
	}
	return nil
}

// chat calls the agent's model, then each fallback in turn when a provider
// fails, recording every attempt; apply puts a successful answer into the
// state before its step is committed. It returns the failure code when all
// fail.
//
// Each model's step records the attempts its provider retried (with their
// error class) and, for a fallback, which model failed before it and why.
// Once streamed text has reached a listener, a failure ends the chain: a
// fallback would show the answer's start twice. Such a failure is transient
// when its class is, so a background run is tried again from its
// checkpoint (the stream is told with run.retrying).
func (l *Loop) chat(ctx context.Context, rec *stepper, spec agent.Spec, req llm.Request, apply func(*llm.Response)) (ErrorCode, error) {
	var lastErr error
	code := CodeProviderError
	var after *fallback // the model that failed before this one
	n := 1 + len(spec.ModelSettings.Fallbacks)
	for i := range n {
		full := spec.Model
		if i > 0 {
			full = spec.ModelSettings.Fallbacks[i-1]
		}
		// Only a model with a fallback after it can be skipped, so only
		// then is the cooling map consulted (its key costs allocations).
		if i < n-1 {
			if until, ok := l.cooling.Load(llm.KeyOf(ctx, full)); ok && l.Now().Before(until.(time.Time)) {
				continue // rate-limited a moment ago: go straight to the fallback
			}
		}
		provider, model, err := l.Models.Resolve(ctx, full)
		if err != nil {
			lastErr, code = err, CodeProviderUnavailable
			continue
		}
		req.Model = model
		streamed := false
		if rec.watched() {
			rec.emit(events.StepStarted, map[string]any{"seq": rec.seq + 1, "kind": StepModel, "name": full})
			// Someone is watching: stream, so text reaches them as it is written.
			seq := rec.seq + 1
			req.OnDelta = func(text string) {
				streamed = true
				rec.emit(events.MessageDelta, map[string]any{"seq": seq, "text": text})
			}
		}
		rec.retries = rec.retries[:0]
		req.OnRetry = rec.onRetry
		start := l.Now()
		callCtx, span := l.startStep(ctx, StepModel, full)
		resp, err := provider.Chat(callCtx, req)
		if err == nil {
			apply(resp)
		}
		if rerr := rec.model(ctx, span, modelCall{model: full, messages: len(req.Messages), start: start, resp: resp, err: err,
			retries: rec.retries, after: after}); rerr != nil {
			return CodeStorageError, rerr
		}
		if err == nil {
			return "", nil
		}
		if ctx.Err() != nil {
			return CodeCancelled, errors.New("the run was cancelled")
		}
		lastErr, code = err, CodeProviderError
		class := llm.Classify(err)
		if class == llm.ClassRateLimited {
			l.cooling.Store(llm.KeyOf(ctx, full), l.Now().Add(RateLimitCooldown))
		}
		if streamed {
			break
		}
		after = &fallback{From: full, Class: class}
	}
	return code, lastErr
}

func specsOf(tools map[string]*boundTool) []llm.Tool {
	out := make([]llm.Tool, 0, len(tools))
	for _, t := range tools {
		out = append(out, t.spec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func failed(code ErrorCode, msg string, u llm.Usage) Outcome {
	return Outcome{Status: StatusFailed, ErrorCode: code, ErrorMessage: msg, Usage: u}
}

// finalOutput turns the final answer into the run's output: JSON checked
// against the output schema when there is one, otherwise a JSON string. A
// non-empty problem says what is wrong with it.
func finalOutput(content string, outSchema json.RawMessage) (json.RawMessage, string) {
	if len(outSchema) == 0 {
		b, _ := json.Marshal(content)
		return b, ""
	}
	s, err := schema.Compile(outSchema)
	if err != nil {
		return nil, "could not be checked: " + err.Error()
	}
	text := strings.TrimSpace(content)
	// Models often wrap JSON in a Markdown fence.
	text = strings.TrimPrefix(strings.TrimPrefix(text, "```json"), "```")
	text = strings.TrimSpace(strings.TrimSuffix(text, "```"))
	if err := s.Validate(json.RawMessage(text)); err != nil {
		return nil, err.Error()
	}
	return json.RawMessage(text), ""
}

// bind prepares the tools an agent may call: its built-in tools, other
// agents as tools (ask_<name>) and its handoffs (transfer_to_<name>).
func (l *Loop) bind(ctx context.Context, spec agent.Spec, depth int) (map[string]*boundTool, error) {
	out := make(map[string]*boundTool, len(spec.Tools)+len(spec.Handoffs))
	add := func(t *boundTool) {
		name := t.spec.Name
		for i := 2; out[t.spec.Name] != nil; i++ {
			t.spec.Name = fmt.Sprintf("%s_%d", name, i)
		}
		out[t.spec.Name] = t
	}
	for _, r := range spec.Tools {
		switch r.Type {
		case "builtin":
			if l.Tools == nil {
				return nil, errors.New("built-in tools are not available in this run")
			}
			run, ok := l.Tools.Executor(r.Name)
			if !ok {
				return nil, fmt.Errorf("built-in tool %q is not available", r.Name)
			}
			def, _ := tool.BuiltinNamed(r.Name)
			s, err := schema.Compile(def.Parameters)
			if err != nil {
				return nil, err
			}
			add(&boundTool{spec: llm.Tool{Name: def.Name, Description: def.Description, Parameters: def.Parameters}, schema: s, run: run, needsApproval: r.NeedsApproval})
		case "function":
			if l.Tools == nil || l.Tools.Functions == nil {
				return nil, errors.New("function tools are not available in this run")
			}
			fn, err := l.Tools.Functions.Get(ctx, r.ID)
			if err != nil {
				return nil, fmt.Errorf("function tool %s: %w", r.ID, err)
			}
			s, err := schema.Compile(fn.Parameters.V)
			if err != nil {
				return nil, err
			}
			add(&boundTool{spec: llm.Tool{Name: fn.Name, Description: fn.Description, Parameters: fn.Parameters.V}, schema: s,
				run: l.Tools.Functions.Func(fn), needsApproval: r.NeedsApproval, keyed: true})
		case "mcp":
			if l.Tools == nil || l.Tools.MCP == nil {
				return nil, errors.New("MCP tools are not available in this run")
			}
			remote, err := l.Tools.MCP.Tools(ctx, r.ServerID, r.Tools)
			if err != nil {
				return nil, err
			}
			for _, rt := range remote {
				s, err := schema.Compile(rt.Parameters)
				if err != nil {
					s, _ = schema.Compile(emptyParams)
				}
				add(&boundTool{spec: llm.Tool{Name: rt.Name, Description: rt.Description, Parameters: rt.Parameters}, schema: s,
					run: rt.Run, needsApproval: r.NeedsApproval})
			}
		case "agent":
			sub, err := l.loadAgent(ctx, r.ID)
			if err != nil {
				return nil, err
			}
			s, _ := schema.Compile(agentToolParams)
			add(&boundTool{spec: llm.Tool{Name: "ask_" + slug(sub.Name), Description: "Ask the agent " + sub.Name + " and get its answer. " + sub.Description,
				Parameters: agentToolParams}, schema: s, agentOf: true, run: l.agentTool(sub, depth), needsApproval: r.NeedsApproval})
		default:
			return nil, fmt.Errorf("%s tools cannot run on this server yet", r.Type)
		}
	}
	for _, id := range spec.Handoffs {
		target, err := l.loadAgent(ctx, id)
		if err != nil {
			return nil, err
		}
		s, _ := schema.Compile(emptyParams)
		add(&boundTool{spec: llm.Tool{Name: "transfer_to_" + slug(target.Name),
			Description: "Hand the conversation over to " + target.Name + ". " + target.Description, Parameters: emptyParams},
			schema: s, handoff: target, run: func(context.Context, json.RawMessage) (string, error) {
				return `{"transferred_to":` + quote(target.Name) + `}`, nil
			}})
	}
	return out, nil
}

var (
	agentToolParams = json.RawMessage(`{"type":"object","properties":{"input":{"type":"string","description":"what to ask"}},"required":["input"],"additionalProperties":false}`)
	emptyParams     = json.RawMessage(`{"type":"object","properties":{},"additionalProperties":false}`)
	nonSlug         = regexp.MustCompile(`[^a-z0-9]+`)
)

func slug(name string) string {
	s := strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(name), "_"), "_")
	if len(s) > 40 {
		s = s[:40]
	}
	if s == "" {
		s = "agent"
	}
	return s
}

func (l *Loop) loadAgent(ctx context.Context, id string) (*agent.Spec, error) {
	if l.Agents == nil {
		return nil, errors.New("agents cannot be called from this run")
	}
	s, err := l.Agents.SpecOf(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", id, err)
	}
	return s, nil
}

// agentUsageKey carries a nested run's token usage back to the caller.
type agentUsageKey struct{}

// agentTool runs another agent on the given input, as a nested loop.
func (l *Loop) agentTool(sub *agent.Spec, depth int) tool.Func {
	return func(ctx context.Context, args json.RawMessage) (string, error) {
		if depth >= maxAgentDepth {
			return "", fmt.Errorf("agents may call agents at most %d deep", maxAgentDepth)
		}
		var in struct {
			Input string `json:"input"`
		}
		if err := json.Unmarshal(args, &in); err != nil {
			return "", err
		}
		out := l.Execute(ctx, LoopParams{Spec: *sub, Input: in.Input, depth: depth + 1})
		if u, ok := ctx.Value(agentUsageKey{}).(*llm.Usage); ok {
			*u = u.Add(out.Usage)
		}
		if out.Status != StatusSucceeded {
			return "", fmt.Errorf("%s failed: %s", sub.Name, out.ErrorMessage)
		}
		return string(out.Output), nil
	}
}

// toolResult is what one call produced.
type toolResult struct {
	output  string
	err     error
	latency time.Duration
	started time.Time
	span    trace.Span // the call's step span, closed when it is recorded
}

// text is what the model sees: the output, or the error as an answer it can
// act on (a bad call is the model's problem to fix, not a crash).
func (r toolResult) text() string {
	if r.err != nil {
		return `{"error":` + quote(r.err.Error()) + `}`
	}
	return r.output
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

var errUnknownTool = errors.New("no such tool")

func (l *Loop) callTools(ctx context.Context, tools map[string]*boundTool, calls []llm.ToolCall, runID string, firstSeq int) ([]toolResult, llm.Usage) {
	results := make([]toolResult, len(calls))
	usages := make([]llm.Usage, len(calls))
	one := func(i int) {
		c := calls[i]
		start := l.Now()
		res := &results[i]
		res.started = start
		var stepCtx context.Context
		stepCtx, res.span = l.startStep(ctx, StepTool, c.Name)
		defer func() {
			if p := recover(); p != nil {
				res.err = fmt.Errorf("the tool failed unexpectedly")
			}
			res.latency = l.Now().Sub(start)
		}()
		t, ok := tools[c.Name]
		if !ok {
			res.err = fmt.Errorf("%w %q; available tools: %s", errUnknownTool, c.Name, toolNames(tools))
			return
		}
		args := c.Arguments
		if len(args) == 0 {
			args = json.RawMessage(`{}`)
		}
		if err := t.schema.Validate(args); err != nil {
			res.err = fmt.Errorf("invalid arguments: %v", err)
			return
		}
		// The step this call will be recorded as names it for webhooks: a
		// retried or resumed call carries the same key.
		callCtx := stepCtx
		if t.keyed {
			callCtx = tool.WithIdempotencyKey(stepCtx, runID+":"+strconv.Itoa(firstSeq+i))
		}
		if t.agentOf {
			callCtx = context.WithValue(callCtx, agentUsageKey{}, &usages[i])
		}
		res.output, res.err = t.run(callCtx, args)
	}
	if len(calls) == 1 {
		one(0)
	} else {
		var wg sync.WaitGroup
		for i := range calls {
			wg.Go(func() { one(i) })
		}
		wg.Wait()
	}
	var total llm.Usage
	for _, u := range usages {
		total = total.Add(u)
	}
	return results, total
}

func toolNames(tools map[string]*boundTool) string {
	s := ""
	for n := range tools {
		if s != "" {
			s += ", "
		}
		s += n
	}
	if s == "" {
		return "none"
	}
	return s
}
