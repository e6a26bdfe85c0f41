package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/pulse-run/pulse/internal/auth"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/queue"
	"github.com/pulse-run/pulse/internal/run"
	"github.com/pulse-run/pulse/internal/tool"
	"github.com/pulse-run/pulse/internal/workflow"
	"github.com/pulse-run/pulse/internal/workflow/graph"
)

// agentNodes runs workflow agent nodes as agent runs: each is a run of
// its own, with its trace, owned by the workflow run's owner.
type agentNodes struct{ runs *run.Service }

var _ workflow.AgentRunner = agentNodes{}

func (a agentNodes) RunAgent(ctx context.Context, p workflow.AgentCall) (graph.AgentResult, error) {
	prep, err := a.runs.Prepare(ctx, run.StartParams{AgentID: p.AgentID, Input: p.Input})
	if err != nil {
		return graph.AgentResult{}, graph.Permanent(err)
	}
	r, err := a.runs.Execute(ctx, prep, func(e run.Event) {
		if d, ok := e.Data.(map[string]any); ok && e.Type == events.MessageDelta && p.OnDelta != nil {
			if text, _ := d["text"].(string); text != "" {
				p.OnDelta(text)
			}
		}
	})
	if err != nil {
		return graph.AgentResult{RunID: prep.Run.ID}, err
	}
	res := graph.AgentResult{RunID: r.ID}
	switch r.Status {
	case run.StatusSucceeded:
		var out any
		if err := json.Unmarshal(r.Output, &out); err != nil {
			return res, err
		}
		res.Output = out
		return res, nil
	case run.StatusRequiresAction:
		return res, graph.Permanent(errors.New("the agent waits for a tool approval; use a human_input node in the workflow instead"))
	}
	return res, fmt.Errorf("agent run %s %s: %s", r.ID, r.Status, r.ErrorMessage)
}

// toolNodes runs the built-in tools for workflow tool nodes.
func toolNodes(rt *tool.Runtime) workflow.ToolCaller {
	return func(ctx context.Context, name string, args json.RawMessage) (string, error) {
		fn, ok := rt.Executor(name)
		if !ok {
			return "", graph.Permanent(fmt.Errorf("no built-in tool %q is available", name))
		}
		return fn(ctx, args)
	}
}

// runAccess lets realtime clients follow agent runs and workflow runs by
// id alike (ids are unique across both).
type runAccess struct {
	runs      *run.Service
	workflows *workflow.Service
}

func (a runAccess) CanSee(ctx context.Context, id string) error {
	err := a.runs.CanSee(ctx, id)
	if err == nil || a.workflows == nil {
		return err
	}
	if werr := a.workflows.CanSee(ctx, id); werr == nil {
		return nil
	}
	return err
}

// runEvents turns ended agent runs into platform events for workflows'
// event triggers. It enqueues them (workflow.DispatchArgs) rather than
// calling the workflow service: that service is built after the run
// service, since its agent nodes need it, and nothing is handed to a
// service after it is built.
type runEvents struct {
	queue *queue.Queue
	log   *slog.Logger
}

var _ run.Observer = runEvents{}

func (o runEvents) RunEnded(ctx context.Context, r *run.Run) {
	name := workflow.EventAgentRunCompleted
	if r.Status == run.StatusFailed {
		name = workflow.EventAgentRunFailed
	}
	var output any
	_ = json.Unmarshal(r.Output, &output)
	data, err := json.Marshal(map[string]any{"id": r.ID, "agent_id": r.AgentID, "status": string(r.Status), "output": output, "error_code": string(r.ErrorCode)})
	if err == nil {
		_, err = o.queue.Insert(context.WithoutCancel(ctx), workflow.DispatchArgs{OwnerID: r.OwnerID, Event: name, Data: data,
			Chain: workflow.ChainOf(ctx)}, nil)
	}
	if err != nil {
		o.log.ErrorContext(ctx, "enqueue agent run event", "run", r.ID, "err", err)
	}
}

// userZone gives the signed-in user's profile time zone.
func userZone(accounts *auth.Service) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		u, err := accounts.Me(ctx)
		if err != nil {
			return "", err
		}
		return u.Timezone, nil
	}
}
