package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"
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
	Type string // node.started, node.completed, node.failed, node.retrying, state.updated, message.delta
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

// Start is the checkpoint of a run that has not begun.
func (g *Graph) Start(input map[string]any) *Checkpoint {
	if input == nil {
		input = map[string]any{}
	}
	return &Checkpoint{State: input, Next: []string{g.Spec.Entry}}
}

// ValidateState checks a state against the spec's state schema.
func (g *Graph) ValidateState(state map[string]any) error {
	if g.state == nil {
		return nil
	}
	b, err := json.Marshal(state)
	if err != nil {
		return err
	}
	return g.state.Validate(b)
}

// ValidateAnswer checks an answer to a human_input node against its form.
func (g *Graph) ValidateAnswer(node string, answer json.RawMessage) error {
	n := g.nodes[node]
	if n == nil || n.form == nil {
		return nil
	}
	return n.form.Validate(answer)
}

// Node returns the node with the id, or nil.
func (g *Graph) Node(id string) *Node {
	if n := g.nodes[id]; n != nil {
		return n.Node
	}
	return nil
}

// Run advances a run super-step by super-step until it ends, pauses for
// input, or fails. The error is for failures outside the workflow (the
// context ended, a hook failed); what the workflow itself did is the
// Outcome.
func (g *Graph) Run(ctx context.Context, p RunParams) (Outcome, error) {
	cp := p.Checkpoint
	if cp == nil {
		cp = g.Start(p.Input)
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	x := &execution{g: g, p: p, done: p.Done}
	for len(cp.Next) > 0 {
		if err := ctx.Err(); err != nil {
			return Outcome{Checkpoint: cp}, err
		}
		if cp.Step >= g.maxSteps {
			return Outcome{Status: Failed, Checkpoint: cp, ErrorCode: "max_steps_exceeded",
				ErrorMessage: fmt.Sprintf("the run took %d super-steps without finishing (max_steps)", g.maxSteps)}, nil
		}
		next, out, err := x.superStep(ctx, cp)
		if err == nil && out != nil && p.Hooks != nil {
			// The run stops here: keep the trace of what did run.
			for _, r := range x.held {
				if err = p.Hooks.Node(ctx, r); err != nil {
					break
				}
			}
		}
		if err != nil || out != nil {
			return ptrOr(out, cp), err
		}
		cp = next
		x.done, x.p.Resume = nil, nil
		if p.Hooks != nil {
			if err := p.Hooks.Commit(ctx, cp, x.held); err != nil {
				return Outcome{Checkpoint: cp}, err
			}
		}
		x.held = x.held[:0]
	}
	return Outcome{Status: Succeeded, Checkpoint: cp}, nil
}

func ptrOr(o *Outcome, cp *Checkpoint) Outcome {
	if o == nil {
		return Outcome{Checkpoint: cp}
	}
	if o.Checkpoint == nil {
		o.Checkpoint = cp
	}
	return *o
}

type execution struct {
	g    *Graph
	p    RunParams
	done map[string]*Record
	held []*Record // records for the next Commit
}

func (x *execution) emit(typ string, data map[string]any) {
	if x.p.Hooks != nil {
		x.p.Hooks.Emit(Event{Type: typ, Data: data})
	}
}

// superStep runs the checkpoint's next nodes together and returns the
// checkpoint after them, or an outcome when the run stops here.
func (x *execution) superStep(ctx context.Context, cp *Checkpoint) (*Checkpoint, *Outcome, error) {
	recs := make([]*Record, len(cp.Next))
	errs := make([]error, len(cp.Next))
	if len(cp.Next) == 1 {
		recs[0], errs[0] = x.node(ctx, cp, cp.Next[0])
	} else {
		var wg sync.WaitGroup
		for i, id := range cp.Next {
			wg.Go(func() { recs[i], errs[i] = x.node(ctx, cp, id) })
		}
		wg.Wait()
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	var interrupt *Interrupt
	for _, r := range recs {
		switch r.Status {
		case NodeFailed:
			return nil, &Outcome{Status: Failed, ErrorCode: "node_failed", FailedNode: r.Node,
				ErrorMessage: fmt.Sprintf("node %q failed: %s", r.Node, r.Error)}, nil
		case NodeInterrupted:
			if interrupt == nil {
				interrupt = x.interruptOf(r.Node)
			}
		}
	}
	if interrupt != nil {
		// The super-step is not over: the nodes that finished are kept as
		// records and reused when the run resumes.
		paused := *cp
		paused.Interrupt = interrupt
		x.emit("node.interrupted", map[string]any{"node": interrupt.Node, "step": cp.Step})
		return nil, &Outcome{Status: Interrupted, Checkpoint: &paused}, nil
	}

	state := maps.Clone(cp.State)
	if state == nil {
		state = map[string]any{}
	}
	for _, r := range recs {
		for _, k := range sortedKeys(r.Update) {
			v, err := reduce(x.g.reducers[k], state[k], r.Update[k])
			if err != nil {
				return nil, &Outcome{Status: Failed, ErrorCode: "reducer_failed", FailedNode: r.Node,
					ErrorMessage: fmt.Sprintf("node %q wrote %q: %v", r.Node, k, err)}, nil
			}
			state[k] = v
		}
	}
	if x.g.state != nil {
		if err := x.g.ValidateState(state); err != nil {
			return nil, &Outcome{Status: Failed, ErrorCode: "state_invalid",
				ErrorMessage: fmt.Sprintf("the state after step %d does not fit the schema: %v", cp.Step+1, err)}, nil
		}
	}
	next := &Checkpoint{Step: cp.Step + 1, State: state, Barriers: cloneBarriers(cp.Barriers)}
	seen := map[string]bool{}
	for _, r := range recs {
		targets, err := x.targets(r, state, next)
		if err != nil {
			return nil, &Outcome{Status: Failed, ErrorCode: "routing_failed", FailedNode: r.Node,
				ErrorMessage: fmt.Sprintf("after node %q: %v", r.Node, err)}, nil
		}
		for _, t := range targets {
			if b := next.Barriers[t]; b != nil {
				b.Arrived++
				if b.Arrived < b.Expected {
					continue
				}
				delete(next.Barriers, t)
			}
			if !seen[t] {
				seen[t] = true
				next.Next = append(next.Next, t)
			}
		}
	}
	if len(next.Barriers) == 0 {
		next.Barriers = nil
	}
	if x.p.Hooks != nil {
		updates := make(map[string]any, len(recs))
		for _, r := range recs {
			if len(r.Update) > 0 {
				updates[r.Node] = r.Update
			}
		}
		x.emit("state.updated", map[string]any{"step": next.Step, "updates": updates, "next": next.Next})
	}
	return next, nil, nil
}

func cloneBarriers(b map[string]*Barrier) map[string]*Barrier {
	if len(b) == 0 {
		return map[string]*Barrier{}
	}
	out := make(map[string]*Barrier, len(b))
	for k, v := range b {
		c := *v
		out[k] = &c
	}
	return out
}

// targets are the nodes a finished node hands over to.
func (x *execution) targets(r *Record, state map[string]any, next *Checkpoint) ([]string, error) {
	n := x.g.nodes[r.Node]
	switch n.Type {
	case TypeEnd:
		return nil, nil
	case TypeRouter:
		return r.Goto, nil
	case TypeParallel:
		next.Barriers[n.Join] = &Barrier{Expected: len(n.Branches)}
		return n.Branches, nil
	}
	if len(n.edges) == 1 && n.edges[0].when == nil {
		return []string{n.edges[0].to}, nil
	}
	var out []string
	for _, e := range n.edges {
		if e.when != nil {
			ok, err := truthy(e.when, state)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
		}
		out = append(out, e.to)
	}
	return out, nil
}

func (x *execution) interruptOf(id string) *Interrupt {
	n := x.g.nodes[id]
	return &Interrupt{Node: id, Message: n.Message, Form: n.Form, TimeoutSeconds: n.TimeoutSeconds, OnTimeout: n.OnTimeout}
}

// node runs one node of the super-step with its retry policy, or reuses
// its record from before a crash or a pause.
func (x *execution) node(ctx context.Context, cp *Checkpoint, id string) (*Record, error) {
	if r := x.done[id]; r != nil && r.Status == NodeSucceeded {
		return r, nil
	}
	n := x.g.nodes[id]
	rec := &Record{Step: cp.Step + 1, Node: id, Type: n.Type, StartedAt: x.p.Now().UTC()}
	if nt, ok := x.p.Hooks.(NodeTracer); ok {
		var end func(*Record)
		ctx, end = nt.StartNode(ctx, rec.Step, n.Node)
		defer func() { end(rec) }()
	}
	if x.p.Hooks != nil {
		x.emit("node.started", map[string]any{"node": id, "type": n.Type, "step": rec.Step})
	}
	attempts := 1
	if n.Retry != nil && n.Retry.MaxAttempts > 1 {
		attempts = n.Retry.MaxAttempts
	}
	var err error
	for a := 1; ; a++ {
		rec.Attempts = a
		err = x.attempt(ctx, cp, n, rec)
		if err == nil || IsPermanent(err) || a >= attempts || ctx.Err() != nil {
			break
		}
		x.emit("node.retrying", map[string]any{"node": id, "step": rec.Step, "attempt": a, "error": err.Error()})
		if err := sleep(ctx, backoff(n.Retry, a)); err != nil {
			return nil, err
		}
	}
	rec.FinishedAt = x.p.Now().UTC()
	if err != nil && ctx.Err() != nil {
		// Stopped from outside (cancel, shutdown, lost lease): not the
		// node's failure, and it runs again when the run resumes.
		return nil, ctx.Err()
	}
	switch {
	case errors.Is(err, errInterrupt):
		rec.Status = NodeInterrupted
	case err != nil:
		rec.Status, rec.Error = NodeFailed, err.Error()
		x.emit("node.failed", map[string]any{"node": id, "step": rec.Step, "error": rec.Error, "attempts": rec.Attempts})
	default:
		rec.Status = NodeSucceeded
		if x.p.Hooks != nil {
			x.emit("node.completed", map[string]any{"node": id, "type": n.Type, "step": rec.Step, "update": rec.Update,
				"latency_ms": rec.FinishedAt.Sub(rec.StartedAt).Milliseconds()})
		}
	}
	switch {
	case x.p.Hooks == nil || rec.Status == NodeInterrupted:
	case len(cp.Next) == 1 && rec.Status == NodeSucceeded:
		x.held = append(x.held, rec) // one goroutine: the super-step is this node
	default:
		if err := x.p.Hooks.Node(ctx, rec); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

func backoff(r *Retry, attempt int) time.Duration {
	base := 0.5
	if r != nil && r.BackoffSeconds > 0 {
		base = r.BackoffSeconds
	}
	d := time.Duration(base * float64(time.Second))
	for i := 1; i < attempt && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

var errInterrupt = errors.New("graph: waiting for input")

// attempt runs the node once, with its timeout.
func (x *execution) attempt(ctx context.Context, cp *Checkpoint, n *cnode, rec *Record) error {
	if n.TimeoutSeconds > 0 && n.Type != TypeHumanInput {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(n.TimeoutSeconds*float64(time.Second)))
		defer cancel()
	}
	err := x.exec(ctx, cp, n, rec)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil && n.TimeoutSeconds > 0 {
		return fmt.Errorf("timed out after %gs", n.TimeoutSeconds)
	}
	return err
}

// Apply merges an update into a state through the reducers, as if a node
// had written it (a thread's next input, a fork's patch).
func (g *Graph) Apply(state, update map[string]any) (map[string]any, error) {
	out := maps.Clone(state)
	if out == nil {
		out = map[string]any{}
	}
	for _, k := range sortedKeys(update) {
		v, err := reduce(g.reducers[k], out[k], update[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}
