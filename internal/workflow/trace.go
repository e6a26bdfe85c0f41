package workflow

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/pulse-run/pulse/internal/workflow/graph"
)

// TracerName names the workflow engine's spans.
const TracerName = "github.com/pulse-run/pulse/internal/workflow"

// startRun opens the span of one execution of a run (a resumed run has one
// per execution); each node's span is its child.
func (s *Service) startRun(ctx context.Context, r *Run) (context.Context, func(*Run)) {
	if s.tracer == nil {
		return ctx, func(*Run) {}
	}
	ctx, span := s.tracer.Start(ctx, "workflow "+r.WorkflowID)
	span.SetAttributes(attribute.String("pulse.workflow.id", r.WorkflowID), attribute.Int("pulse.workflow.version", r.Version),
		attribute.String("pulse.workflow_run.id", r.ID), attribute.Int("pulse.workflow_run.attempt", r.Attempt))
	return ctx, func(out *Run) {
		if out != nil {
			span.SetAttributes(attribute.String("pulse.workflow_run.status", out.Status))
			if out.Status == StatusFailed {
				span.SetStatus(codes.Error, out.ErrorCode+": "+out.ErrorMessage)
			}
		}
		span.End()
	}
}

// tracedHooks adds a span per node to the hooks.
type tracedHooks struct {
	*hooks
	tracer trace.Tracer
}

var _ graph.NodeTracer = tracedHooks{}

func (h tracedHooks) StartNode(ctx context.Context, step int, n *graph.Node) (context.Context, func(*graph.Record)) {
	ctx, span := h.tracer.Start(ctx, "node "+n.ID)
	return ctx, func(r *graph.Record) {
		span.SetAttributes(attribute.String("pulse.node.id", n.ID), attribute.String("pulse.node.type", n.Type), attribute.Int("pulse.node.step", step),
			attribute.Int("pulse.node.attempts", r.Attempts), attribute.String("pulse.node.status", r.Status))
		if r.ChildRunID != "" {
			span.SetAttributes(attribute.String("pulse.run.id", r.ChildRunID))
		}
		if r.Status == graph.NodeFailed {
			span.SetStatus(codes.Error, r.Error)
		}
		span.End()
	}
}
