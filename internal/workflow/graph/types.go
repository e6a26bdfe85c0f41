package graph

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/pulse-run/pulse/internal/platform/events"
)

// Checkpoint is a run's position after a super-step: everything needed to
// continue it, in any process.
type Checkpoint struct {
	Step      int                 `json:"step"` // super-steps completed
	State     map[string]any      `json:"state"`
	Next      []string            `json:"next"` // the nodes of the next super-step; empty: finished
	Barriers  map[string]*Barrier `json:"barriers,omitempty"`
	Interrupt *Interrupt          `json:"interrupt,omitempty"`
}

// Barrier holds a parallel node's join until all its branches arrive.
type Barrier struct {
	Expected int `json:"expected"`
	Arrived  int `json:"arrived"`
}

// Interrupt is a run paused for a person's answer.
type Interrupt struct {
	Node           string          `json:"node"`
	Message        string          `json:"message,omitempty"`
	Form           json.RawMessage `json:"form,omitempty"`
	TimeoutSeconds float64         `json:"timeout_seconds,omitempty"`
	OnTimeout      string          `json:"on_timeout,omitempty"`
}

// Record is what one node did in one super-step.
type Record struct {
	Step       int            `json:"step"`
	Node       string         `json:"node"`
	Type       string         `json:"type"`
	Status     string         `json:"status"` // succeeded, failed, interrupted
	Update     map[string]any `json:"update,omitempty"`
	Goto       []string       `json:"goto,omitempty"` // a router's choice, a parallel's branches
	Error      string         `json:"error,omitempty"`
	Attempts   int            `json:"attempts"`
	ChildRunID string         `json:"child_run_id,omitempty"` // an agent node's run
	StartedAt  time.Time      `json:"started_at"`
	FinishedAt time.Time      `json:"finished_at"`
}

// Record statuses.
const (
	NodeSucceeded   = "succeeded"
	NodeFailed      = "failed"
	NodeInterrupted = "interrupted"
)

// Event is live progress, for streaming.
type Event struct {
	Type events.Type // node.started, node.completed, node.failed, node.retrying, state.updated, message.delta
	Data map[string]any
}

// Hooks persist and report a run as the engine advances it.
type Hooks interface {
	// Node stores what a node did as soon as it finished, when other
	// nodes of its super-step may still be running: a run resumed in that
	// super-step reuses a succeeded record instead of running the node
	// again. Failures are stored this way too.
	Node(ctx context.Context, r *Record) error
	// Commit stores the checkpoint after a super-step, with the records
	// not stored yet (the node of a one-node super-step: nothing could be
	// lost between them, so one write does both). An error stops the run
	// (a lost lease, a database down).
	Commit(ctx context.Context, cp *Checkpoint, records []*Record) error
	// Emit reports progress; it must not block.
	Emit(e Event)
}

// NodeTracer is an optional extension of Hooks: it wraps each node
// execution (in a span, say), so what the node calls nests under it.
type NodeTracer interface {
	StartNode(ctx context.Context, step int, n *Node) (context.Context, func(*Record))
}

// Call identifies a node execution to the effects that perform it.
type Call struct {
	RunID   string
	Node    *Node
	Step    int
	Attempt int
	Emit    func(Event) // token deltas of agent and llm nodes
}

// Result of an agent node.
type AgentResult struct {
	RunID  string
	Output any
}

// LLMCall is one model call of an llm node.
type LLMCall struct {
	Model, System, Prompt string
	Schema                json.RawMessage
}

// HTTPCall is the request of an http node.
type HTTPCall struct {
	Method, URL string
	Headers     map[string]string
	Body        any // nil: no body
}

// Effects perform the nodes that reach outside the engine. A nil method
// result with an error fails the node (retried if the error is not
// Permanent).
type Effects interface {
	Agent(ctx context.Context, c Call, agentID, input string) (AgentResult, error)
	LLM(ctx context.Context, c Call, req LLMCall) (any, error)
	Tool(ctx context.Context, c Call, name string, args any) (any, error)
	HTTP(ctx context.Context, c Call, req HTTPCall) (any, error)
	Subworkflow(ctx context.Context, c Call, workflowID string, version int, input map[string]any) (map[string]any, error)
}

// Outcome is how a call to Run ended.
type Outcome struct {
	Status       string // succeeded, interrupted, failed
	Checkpoint   *Checkpoint
	ErrorCode    string
	ErrorMessage string
	FailedNode   string
}

// Outcome statuses.
const (
	Succeeded   = "succeeded"
	Interrupted = "interrupted"
	Failed      = "failed"
)

// RunParams is where and how to run.
type RunParams struct {
	RunID      string
	Checkpoint *Checkpoint        // nil: start with Input
	Input      map[string]any     // the initial state
	Done       map[string]*Record // succeeded nodes of the checkpoint's next super-step
	Resume     any                // the answer to the checkpoint's interrupt
	Hooks      Hooks              // nil: keep nothing (nested graphs)
	Effects    Effects
	Now        func() time.Time
}

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return permanentError{err} }

func permanent(err error) error { return Permanent(err) }

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
