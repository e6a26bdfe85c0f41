package run

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/platform/events"
)

// stepper numbers steps and hands them to the recorder.
type stepper struct {
	rec    Recorder
	now    func() time.Time
	seq    int
	events func(Event)
	prices *llm.Prices
	cost   int64 // sum of the model steps' cost
	tracer trace.Tracer
	state  *State // committed with each step: the checkpoint

	// retries collects the attempts a provider retried during the current
	// model call; onRetry appends to it (one closure per run).
	retries []llm.Retried
	onRetry func(llm.Retried)
}

// watched is whether anyone hears the run's events: a caller builds an
// event's payload only then, as the turn's hot path would otherwise
// allocate maps nobody reads.
func (s *stepper) watched() bool { return s.events != nil }

func (s *stepper) emit(typ events.Type, data any) {
	if s.events != nil {
		s.events(Event{Type: typ, Data: data})
	}
}

func (s *stepper) add(ctx context.Context, st *Step) error { return s.addSpan(ctx, st, nil) }

// addSpan records a step that ran under span (nil: none was open).
func (s *stepper) addSpan(ctx context.Context, st *Step, span trace.Span) error {
	s.seq++
	st.Seq = s.seq
	s.endStep(ctx, st, span)
	if s.state != nil {
		s.state.Seq, s.state.CostMicros = s.seq, s.cost
	}
	if s.rec != nil {
		if err := s.rec.Step(ctx, st, s.state); err != nil {
			return err
		}
	}
	if s.watched() {
		s.emit(events.StepCompleted, map[string]any{"seq": st.Seq, "kind": st.Kind, "name": st.Name, "status": st.Status,
			"error": st.Error, "input_tokens": st.InputTokens, "output_tokens": st.OutputTokens, "latency_micros": st.LatencyMicros})
	}
	return nil
}

// fallback is why a model step runs at all: the model before it in the
// chain failed.
type fallback struct {
	From  string         `json:"fallback_from"`
	Class llm.ErrorClass `json:"fallback_class"`
}

// modelCall is one model's part of a model step: its answer or failure,
// the attempts its provider retried, and the model it stands in for.
type modelCall struct {
	model    string
	messages int
	start    time.Time
	resp     *llm.Response
	err      error
	retries  []llm.Retried
	after    *fallback
}

// model records a model call as a step. Its input says how many messages
// were sent and, for a fallback, which model failed before it; its output
// holds the answer (or the failure's error_class) and the retried attempts.
func (s *stepper) model(ctx context.Context, span trace.Span, c modelCall) error {
	end := s.now()
	st := &Step{Kind: StepModel, Name: c.model, Status: StepSucceeded, StartedAt: c.start, FinishedAt: end, LatencyMicros: end.Sub(c.start).Microseconds()}
	if c.after == nil {
		// The common case, written by hand: it is on every turn.
		st.Input = strconv.AppendInt(append(make([]byte, 0, 24), `{"messages":`...), int64(c.messages), 10)
		st.Input = append(st.Input, '}')
	} else {
		st.Input, _ = json.Marshal(struct {
			Messages int `json:"messages"`
			*fallback
		}{c.messages, c.after})
	}
	class := llm.Classify(c.err)
	if c.err != nil {
		st.Status, st.Error = StepFailed, c.err.Error()
		st.Output, _ = json.Marshal(struct {
			Class   llm.ErrorClass `json:"error_class"`
			Retries []llm.Retried  `json:"retries,omitempty"`
		}{class, c.retries})
	} else {
		resp := c.resp
		st.InputTokens, st.OutputTokens = resp.Usage.InputTokens, resp.Usage.OutputTokens
		st.CostMicros = s.prices.Cost(c.model, resp.Usage)
		s.cost += st.CostMicros
		out := struct {
			Text      string         `json:"text,omitempty"`
			ToolCalls []llm.ToolCall `json:"tool_calls,omitempty"`
			Finish    string         `json:"finish_reason,omitempty"`
			Retries   []llm.Retried  `json:"retries,omitempty"`
		}{resp.Message.Content, redactCalls(resp.Message.ToolCalls), resp.FinishReason, c.retries}
		st.Output, _ = json.Marshal(out)
	}
	if span != nil && span.IsRecording() {
		span.SetAttributes(attribute.Int("pulse.retries", len(c.retries)))
		if class != "" {
			span.SetAttributes(attribute.String("error.type", string(class)))
		}
		if c.after != nil {
			span.SetAttributes(attribute.String("pulse.fallback_from", c.after.From), attribute.String("pulse.fallback_class", string(c.after.Class)))
		}
	}
	return s.addSpan(ctx, st, span)
}

func (s *stepper) tool(ctx context.Context, c llm.ToolCall, r toolResult) error {
	st := &Step{Kind: StepTool, Name: c.Name, Status: StepSucceeded, StartedAt: r.started, FinishedAt: r.started.Add(r.latency), LatencyMicros: r.latency.Microseconds()}
	in := struct {
		CallID    string `json:"call_id"`
		Arguments string `json:"arguments"`
	}{c.ID, redactArgs(string(c.Arguments))}
	st.Input, _ = json.Marshal(in)
	if r.err != nil {
		st.Status, st.Error, st.Output = StepFailed, r.err.Error(), json.RawMessage(`{}`)
	} else {
		st.Output, _ = json.Marshal(struct {
			Result string `json:"result"`
		}{redactText(r.output)})
	}
	return s.addSpan(ctx, st, r.span)
}

func (s *stepper) handoff(ctx context.Context, from, to string) error {
	now := s.now()
	in, _ := json.Marshal(map[string]string{"from": from})
	out, _ := json.Marshal(map[string]string{"to": to})
	return s.add(ctx, &Step{Kind: StepHandoff, Name: to, Status: StepSucceeded, Input: in, Output: out, StartedAt: now, FinishedAt: now})
}

func (s *stepper) guardrail(ctx context.Context, name string, start time.Time, reason string, err error) error {
	end := s.now()
	st := &Step{Kind: StepGuardrail, Name: name, Status: StepSucceeded, Input: json.RawMessage(`{}`), Output: json.RawMessage(`{"tripped":false}`),
		StartedAt: start, FinishedAt: end, LatencyMicros: end.Sub(start).Microseconds()}
	switch {
	case err != nil:
		st.Status, st.Error = StepFailed, err.Error()
	case reason != "":
		st.Status, st.Error = StepFailed, reason
		st.Output, _ = json.Marshal(map[string]any{"tripped": true, "reason": reason})
	}
	return s.add(ctx, st)
}

// approval records a request for, or a decision on, pending tool calls.
func (s *stepper) approval(ctx context.Context, calls []llm.ToolCall, decision, reason string) error {
	now := s.now()
	in, _ := json.Marshal(map[string]any{"tool_calls": redactCalls(calls)})
	out, _ := json.Marshal(map[string]any{"decision": decision, "reason": reason})
	status := StepSucceeded
	if decision == "rejected" {
		status = StepFailed
	}
	if decision == "requested" {
		s.emit(events.ApprovalRequested, map[string]any{"tool_calls": calls})
	}
	return s.add(ctx, &Step{Kind: StepApproval, Name: decision, Status: status, Input: in, Output: out, StartedAt: now, FinishedAt: now})
}
