package run

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// TracerName names the run engine's spans.
const TracerName = "github.com/pulse-run/pulse/internal/run"

// startRun opens the run's span; every step's span is its child. endRun closes
// it with the outcome.
func (l *Loop) startRun(ctx context.Context, p LoopParams, op string) (context.Context, trace.Span) {
	if l.Tracer == nil {
		// Not tracing: not even a no-op span, which would cost a context
		// per step.
		return ctx, nil
	}
	ctx, span := l.Tracer.Start(ctx, op+" "+p.Spec.Name)
	if !span.IsRecording() {
		return ctx, nil
	}
	span.SetAttributes(attribute.String("pulse.run.id", p.RunID), attribute.String("gen_ai.operation.name", "invoke_agent"),
		attribute.String("gen_ai.agent.name", p.Spec.Name), attribute.String("gen_ai.request.model", p.Spec.Model))
	return ctx, span
}

// endRun closes the run's span (nil: none) with how the run ended. It is a
// function, not a closure startRun returns, so the outcome it reads stays on
// the caller's stack.
func endRun(span trace.Span, o *Outcome) {
	if span == nil {
		return
	}
	span.SetAttributes(attribute.String("pulse.run.status", string(o.Status)), attribute.Int("gen_ai.usage.input_tokens", o.Usage.InputTokens),
		attribute.Int("gen_ai.usage.output_tokens", o.Usage.OutputTokens), attribute.Int64("pulse.cost_micros", o.CostMicros))
	if o.Status == StatusFailed {
		span.SetStatus(codes.Error, string(o.ErrorCode)+": "+o.ErrorMessage)
	}
	span.End()
}

// endStep closes a step's span: span is the live one the step ran under,
// or nil for steps recorded after the fact, which get a span with the
// step's own start and end times.
func (s *stepper) endStep(ctx context.Context, st *Step, span trace.Span) {
	if span == nil {
		if s.tracer == nil {
			return
		}
		_, span = s.tracer.Start(ctx, st.Kind+" "+st.Name, trace.WithTimestamp(st.StartedAt))
	}
	if span.IsRecording() {
		span.SetAttributes(attribute.Int("pulse.step.seq", st.Seq), attribute.String("pulse.step.kind", st.Kind), attribute.String("pulse.step.name", st.Name))
		if st.Kind == StepModel {
			span.SetAttributes(attribute.Int("gen_ai.usage.input_tokens", st.InputTokens), attribute.Int("gen_ai.usage.output_tokens", st.OutputTokens),
				attribute.Int64("pulse.cost_micros", st.CostMicros))
		}
		if st.Status == StepFailed {
			span.SetStatus(codes.Error, st.Error)
		}
	}
	span.End(trace.WithTimestamp(st.FinishedAt))
}

// startStep opens the span of a step that is about to run, so what it calls
// (providers, webhooks, nested agents) nests under it.
// Without a tracer the span is nil.
func (l *Loop) startStep(ctx context.Context, kind, name string) (context.Context, trace.Span) {
	if l.Tracer == nil {
		return ctx, nil
	}
	return l.Tracer.Start(ctx, kind+" "+name, trace.WithTimestamp(l.Now()))
}
