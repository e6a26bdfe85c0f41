package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/pulse-run/pulse/internal/platform/events"
)

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

func (x *execution) emit(typ events.Type, data map[string]any) {
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
		x.emit(events.NodeInterrupted, map[string]any{"node": interrupt.Node, "step": cp.Step})
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
		targets, err := x.targets(ctx, r, state, next)
		if err != nil && ctx.Err() != nil {
			return nil, nil, err // a cancel or shutdown, not the routing's fault
		}
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
		x.emit(events.StateUpdated, map[string]any{"step": next.Step, "updates": updates, "next": next.Next})
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
func (x *execution) targets(ctx context.Context, r *Record, state map[string]any, next *Checkpoint) ([]string, error) {
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
			ok, err := truthy(ctx, e.when, state)
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
		x.emit(events.NodeStarted, map[string]any{"node": id, "type": n.Type, "step": rec.Step})
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
		x.emit(events.NodeRetrying, map[string]any{"node": id, "step": rec.Step, "attempt": a, "error": err.Error()})
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
		x.emit(events.NodeFailed, map[string]any{"node": id, "step": rec.Step, "error": rec.Error, "attempts": rec.Attempts})
	default:
		rec.Status = NodeSucceeded
		if x.p.Hooks != nil {
			x.emit(events.NodeCompleted, map[string]any{"node": id, "type": n.Type, "step": rec.Step, "update": rec.Update,
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
