package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pulse-run/pulse/internal/agent"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/platform/schema"
	"github.com/pulse-run/pulse/internal/tool"
)

// DefaultMaxTurns bounds model calls per run when the agent sets none.
const DefaultMaxTurns = 10

// Recorder commits a step before the loop goes on, so a run's trace is
// complete up to the moment it stopped.
type Recorder interface {
	Step(ctx context.Context, s *Step) error
}

// Outcome is how a loop ended.
type Outcome struct {
	Status       string // succeeded or failed
	Output       json.RawMessage
	ErrorCode    string
	ErrorMessage string
	Usage        llm.Usage
}

// boundTool is a tool the model may call in this run.
type boundTool struct {
	spec   llm.Tool
	schema *schema.Schema
	run    tool.Func
}

// Loop runs one agent on one input. It is independent of storage: the
// Recorder persists, the Registry reaches models.
type Loop struct {
	Models *llm.Registry
	Now    func() time.Time
}

// LoopParams is one run to execute.
type LoopParams struct {
	RunID    string
	Spec     agent.Spec
	Input    string
	Recorder Recorder
}

// Execute runs the agent loop: call the model; if it asks for tools, run
// them (concurrently when it asks for several) and give it the results;
// repeat until it answers or max_turns is reached.
func (l *Loop) Execute(ctx context.Context, p LoopParams) Outcome {
	provider, model, err := l.Models.Resolve(p.Spec.Model)
	if err != nil {
		return failed("provider_unavailable", err.Error(), llm.Usage{})
	}
	tools, err := l.bindTools(p.Spec.Tools)
	if err != nil {
		return failed("tool_unavailable", err.Error(), llm.Usage{})
	}
	specs := make([]llm.Tool, 0, len(tools))
	for _, t := range tools {
		specs = append(specs, t.spec)
	}
	maxTurns := p.Spec.ModelSettings.MaxTurns
	if maxTurns <= 0 {
		maxTurns = DefaultMaxTurns
	}
	msgs := make([]llm.Message, 0, 8)
	msgs = append(msgs, llm.Message{Role: llm.RoleSystem, Content: p.Spec.Instructions}, llm.Message{Role: llm.RoleUser, Content: p.Input})
	rec := &stepper{rec: p.Recorder, now: l.Now}
	var usage llm.Usage
	for turn := 1; ; turn++ {
		if turn > maxTurns {
			return failed("max_turns_exceeded", fmt.Sprintf("the agent did not finish within %d model calls", maxTurns), usage)
		}
		req := llm.Request{Model: model, Messages: msgs, Tools: specs, Temperature: p.Spec.ModelSettings.Temperature,
			TopP: p.Spec.ModelSettings.TopP, MaxTokens: p.Spec.ModelSettings.MaxTokens, OutputSchema: p.Spec.OutputSchema}
		start := l.Now()
		resp, err := provider.Chat(ctx, req)
		if err != nil {
			if rerr := rec.model(ctx, p.Spec.Model, len(msgs), start, nil, err); rerr != nil {
				return failed("storage_error", rerr.Error(), usage)
			}
			if ctx.Err() != nil {
				return failed("cancelled", "the run was cancelled", usage)
			}
			return failed("provider_error", err.Error(), usage)
		}
		usage = usage.Add(resp.Usage)
		if err := rec.model(ctx, p.Spec.Model, len(msgs), start, resp, nil); err != nil {
			return failed("storage_error", err.Error(), usage)
		}
		msgs = append(msgs, resp.Message)
		if len(resp.Message.ToolCalls) == 0 {
			return l.finish(resp.Message.Content, p.Spec.OutputSchema, usage)
		}
		results := l.callTools(ctx, tools, resp.Message.ToolCalls)
		for i, c := range resp.Message.ToolCalls {
			if err := rec.tool(ctx, c, results[i]); err != nil {
				return failed("storage_error", err.Error(), usage)
			}
			msgs = append(msgs, llm.Message{Role: llm.RoleTool, ToolCallID: c.ID, Name: c.Name, Content: results[i].text()})
		}
	}
}

func failed(code, msg string, u llm.Usage) Outcome {
	return Outcome{Status: StatusFailed, ErrorCode: code, ErrorMessage: msg, Usage: u}
}

// finish turns the final answer into the run's output: JSON checked
// against the output schema when there is one, otherwise a JSON string.
func (l *Loop) finish(content string, outSchema json.RawMessage, u llm.Usage) Outcome {
	if len(outSchema) == 0 {
		b, _ := json.Marshal(content)
		return Outcome{Status: StatusSucceeded, Output: b, Usage: u}
	}
	s, err := schema.Compile(outSchema)
	if err != nil {
		return failed("invalid_output_schema", err.Error(), u)
	}
	if err := s.Validate(json.RawMessage(content)); err != nil {
		return failed("invalid_output", "the final answer "+err.Error(), u)
	}
	return Outcome{Status: StatusSucceeded, Output: json.RawMessage(content), Usage: u}
}

func (l *Loop) bindTools(refs []agent.ToolRef) (map[string]*boundTool, error) {
	out := make(map[string]*boundTool, len(refs))
	for _, r := range refs {
		if r.Type != "builtin" {
			return nil, fmt.Errorf("%s tools cannot run on this server yet", r.Type)
		}
		run, ok := tool.Executor(r.Name, l.Now)
		if !ok {
			return nil, fmt.Errorf("built-in tool %q is not available", r.Name)
		}
		var def tool.Builtin
		for _, b := range tool.Builtins {
			if b.Name == r.Name {
				def = b
			}
		}
		s, err := schema.Compile(def.Parameters)
		if err != nil {
			return nil, err
		}
		out[r.Name] = &boundTool{spec: llm.Tool{Name: def.Name, Description: def.Description, Parameters: def.Parameters}, schema: s, run: run}
	}
	return out, nil
}

// toolResult is what one call produced.
type toolResult struct {
	output  string
	err     error
	latency time.Duration
	started time.Time
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

func (l *Loop) callTools(ctx context.Context, tools map[string]*boundTool, calls []llm.ToolCall) []toolResult {
	results := make([]toolResult, len(calls))
	one := func(i int) {
		c := calls[i]
		start := l.Now()
		res := &results[i]
		res.started = start
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
		res.output, res.err = t.run(ctx, args)
	}
	if len(calls) == 1 {
		one(0)
		return results
	}
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() { one(i) })
	}
	wg.Wait()
	return results
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
