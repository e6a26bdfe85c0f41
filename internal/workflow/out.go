package workflow

import (
	"encoding/json"
	"time"

	"github.com/pulse-run/pulse/internal/workflow/graph"
)

// WorkflowRunOut is a run as clients see it.
type WorkflowRunOut struct {
	ID           string           `json:"id"`
	WorkflowID   string           `json:"workflow_id"`
	Version      int              `json:"version"`
	ThreadID     string           `json:"thread_id,omitempty"`
	Status       string           `json:"status" enum:"pending,queued,running,interrupted,succeeded,failed,cancelled"`
	Origin       string           `json:"origin" enum:"api,cron,webhook,event,fork,thread"`
	TriggerChain []string         `json:"trigger_chain,omitempty" doc:"the workflows whose runs' events led to this run, oldest first"`
	Input        json.RawMessage  `json:"input"`
	State        map[string]any   `json:"state" doc:"the state at the last checkpoint"`
	Step         int              `json:"step" doc:"super-steps completed"`
	CurrentNodes []string         `json:"current_nodes" doc:"the nodes of the next super-step"`
	Interrupt    *graph.Interrupt `json:"interrupt,omitempty" doc:"what the run waits for, when interrupted"`
	InterruptBy  *time.Time       `json:"interrupt_until,omitempty" doc:"when the wait times out"`
	CheckpointID string           `json:"checkpoint_id,omitempty"`
	ForkedFrom   string           `json:"forked_from,omitempty" doc:"the checkpoint this run was forked from"`
	Error        *WorkflowError   `json:"error,omitempty"`
	Background   bool             `json:"background"`
	Attempt      int              `json:"attempt"`
	CreatedAt    time.Time        `json:"created_at"`
	StartedAt    *time.Time       `json:"started_at,omitempty"`
	FinishedAt   *time.Time       `json:"finished_at,omitempty"`
}

// WorkflowError says why a run failed.
type WorkflowError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Node    string `json:"node,omitempty"`
}

// RunOut renders a run.
func RunOut(r *Run) WorkflowRunOut {
	o := WorkflowRunOut{ID: r.ID, WorkflowID: r.WorkflowID, Version: r.Version, ThreadID: r.ThreadID, Status: r.Status, Origin: r.Origin,
		Input: r.Input, CheckpointID: r.CheckpointID, ForkedFrom: r.ForkedFrom, Background: r.Background, Attempt: r.Attempt,
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, InterruptBy: r.InterruptUntil, CurrentNodes: []string{},
		TriggerChain: r.TriggerChain.V}
	if cp := r.Checkpoint; cp != nil {
		o.State, o.Step, o.Interrupt = cp.State, cp.Step, cp.Interrupt
		if cp.Next != nil {
			o.CurrentNodes = cp.Next
		}
	}
	if r.Finished() {
		o.CurrentNodes = []string{}
	}
	if r.ErrorCode != "" {
		o.Error = &WorkflowError{Code: r.ErrorCode, Message: r.ErrorMessage, Node: r.FailedNode}
	}
	if len(o.Input) == 0 {
		o.Input = json.RawMessage("{}")
	}
	return o
}
