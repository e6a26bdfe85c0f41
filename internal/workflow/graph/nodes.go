package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// MaxMapItems bounds the items of one map node.
const MaxMapItems = 10_000

// errNoEffects fails nodes that need the outside world when none is wired.
var errNoEffects = Permanent(errors.New("this node type is not available here"))

// exec runs the node's own logic and fills rec.Update / rec.Goto.
func (x *execution) exec(ctx context.Context, cp *Checkpoint, n *cnode, rec *Record) error {
	state := cp.State
	call := Call{RunID: x.p.RunID, Node: n.Node, Step: rec.Step, Attempt: rec.Attempts, Emit: x.emitNode(n.ID)}
	fx := x.p.Effects
	budget := newOutputBudget() // all this node's evaluations produce
	switch n.Type {
	case TypeNoop, TypeEnd, TypeParallel:
		return nil
	case TypeRouter:
		return x.route(ctx, n, state, rec)
	case TypeTransform:
		u := make(map[string]any, len(n.set)+len(n.format))
		for k, p := range n.set {
			v, err := run(ctx, p, state)
			if err == nil {
				err = budget.charge(v)
			}
			if err != nil {
				return fmt.Errorf("set.%s: %w", k, err)
			}
			u[k] = v
		}
		for k, t := range n.format {
			v, err := t.render(ctx, state, budget)
			if err != nil {
				return fmt.Errorf("format.%s: %w", k, err)
			}
			u[k] = v
		}
		rec.Update = u
		return nil
	case TypeHumanInput:
		if cp.Interrupt != nil && cp.Interrupt.Node == n.ID && x.p.Resume != nil {
			rec.Update = map[string]any{n.OutputKey: x.p.Resume}
			return nil
		}
		return errInterrupt
	case TypeMap:
		return x.mapNode(ctx, n, state, rec)
	}
	if fx == nil {
		return errNoEffects
	}
	var (
		out any
		err error
	)
	switch n.Type {
	case TypeAgent:
		var input string
		if input, err = n.input.render(ctx, state, budget); err != nil {
			return err
		}
		var r AgentResult
		r, err = fx.Agent(ctx, call, n.AgentID, input)
		out, rec.ChildRunID = r.Output, r.RunID
	case TypeLLM:
		req := LLMCall{Model: n.Model, Schema: n.Schema}
		if req.Prompt, err = n.input.render(ctx, state, budget); err != nil {
			return err
		}
		if n.system != nil {
			if req.System, err = n.system.render(ctx, state, budget); err != nil {
				return err
			}
		}
		out, err = fx.LLM(ctx, call, req)
	case TypeTool:
		var args any
		if args, err = n.args.render(ctx, state, budget); err != nil {
			return err
		}
		out, err = fx.Tool(ctx, call, n.Tool, args)
	case TypeHTTP:
		req := HTTPCall{Method: n.Method, Headers: map[string]string{}}
		if req.URL, err = n.url.render(ctx, state, budget); err != nil {
			return err
		}
		for k, t := range n.headers {
			if req.Headers[k], err = t.render(ctx, state, budget); err != nil {
				return err
			}
		}
		if n.args != nil {
			if req.Body, err = n.args.render(ctx, state, budget); err != nil {
				return err
			}
		}
		out, err = fx.HTTP(ctx, call, req)
	case TypeSubworkflow:
		in := make(map[string]any, len(n.with))
		for k, p := range n.with {
			if in[k], err = run(ctx, p, state); err == nil {
				err = budget.charge(in[k])
			}
			if err != nil {
				return fmt.Errorf("with.%s: %w", k, err)
			}
		}
		out, err = fx.Subworkflow(ctx, call, n.WorkflowID, n.Version, in)
	default:
		return Permanent(fmt.Errorf("unknown node type %q", n.Type))
	}
	if err != nil {
		return err
	}
	if n.OutputKey != "" {
		rec.Update = map[string]any{n.OutputKey: out}
	}
	return nil
}

// emitNode tags a node's own events (token deltas) with the node.
func (x *execution) emitNode(id string) func(Event) {
	if x.p.Hooks == nil {
		return func(Event) {}
	}
	return func(e Event) {
		if e.Data == nil {
			e.Data = map[string]any{}
		}
		e.Data["node"] = id
		x.p.Hooks.Emit(e)
	}
}

func (x *execution) route(ctx context.Context, n *cnode, state map[string]any, rec *Record) error {
	if n.expr != nil {
		v, err := run(ctx, n.expr, state)
		if err != nil {
			return err
		}
		var picks []string
		switch t := v.(type) {
		case string:
			picks = []string{t}
		case []any:
			for _, e := range t {
				s, ok := e.(string)
				if !ok {
					return Permanent(fmt.Errorf("the router's expression gave a list holding %T, not node ids", e))
				}
				picks = append(picks, s)
			}
		case []string:
			picks = t
		case nil:
		default:
			return Permanent(fmt.Errorf("the router's expression gave %T, not a node id", v))
		}
		for _, p := range picks {
			if !slices.Contains(n.Targets, p) {
				return Permanent(fmt.Errorf("the router chose %q, which is not among its targets", p))
			}
		}
		if len(picks) == 0 && n.Default != "" {
			picks = []string{n.Default}
		}
		rec.Goto = picks
		return nil
	}
	for _, r := range n.routes {
		ok, err := truthy(ctx, r.when, state)
		if err != nil {
			return err
		}
		if ok {
			rec.Goto = []string{r.to}
			return nil
		}
	}
	if n.Default != "" {
		rec.Goto = []string{n.Default}
	}
	return nil
}

// mapNode runs the node's graph once per item, Concurrency at a time, in
// memory: the map is one node of the parent, checkpointed as a whole.
func (x *execution) mapNode(ctx context.Context, n *cnode, state map[string]any, rec *Record) error {
	v, err := run(ctx, n.expr, state)
	if err != nil {
		return err
	}
	items, ok := v.([]any)
	if !ok && v != nil {
		return Permanent(fmt.Errorf("items gave %T, not a list", v))
	}
	if len(items) > MaxMapItems {
		return Permanent(fmt.Errorf("items gave %d items; a map takes at most %d", len(items), MaxMapItems))
	}
	limit := n.Concurrency
	if limit == 0 {
		limit = 4
	}
	results := make([]any, len(items))
	errs := make([]error, len(items))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, item := range items {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out, err := n.sub.Run(ctx, RunParams{RunID: x.p.RunID, Input: map[string]any{n.ItemKey: item}, Effects: x.p.Effects, Now: x.p.Now})
			switch {
			case err != nil:
				errs[i] = err
			case out.Status != Succeeded:
				errs[i] = fmt.Errorf("item %d: %s", i, out.ErrorMessage)
			default:
				results[i] = out.Checkpoint.State
				if n.collect != nil {
					results[i], errs[i] = run(ctx, n.collect, out.Checkpoint.State)
				}
			}
			if errs[i] != nil {
				cancel() // one failed item fails the map: stop the rest
			}
		})
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil && !errors.Is(e, context.Canceled) {
			return e
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	rec.Update = map[string]any{n.OutputKey: results}
	return nil
}

// reduce merges an update into a state value.
func reduce(reducer string, old, update any) (any, error) {
	switch reducer {
	case "", ReduceReplace:
		return update, nil
	case ReduceAppend:
		var base []any
		switch o := old.(type) {
		case nil:
		case []any:
			base = o
		default:
			return nil, fmt.Errorf("append to %T, not a list", old)
		}
		// A new slice: the previous checkpoint's list is never touched.
		out := make([]any, 0, len(base)+1)
		out = append(out, base...)
		if u, ok := update.([]any); ok {
			return append(out, u...), nil
		}
		return append(out, update), nil
	case ReduceMerge:
		out := map[string]any{}
		switch o := old.(type) {
		case nil:
		case map[string]any:
			for k, v := range o {
				out[k] = v
			}
		default:
			return nil, fmt.Errorf("merge into %T, not an object", old)
		}
		u, ok := update.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("merge of %T, not an object", update)
		}
		for k, v := range u {
			out[k] = v
		}
		return out, nil
	case ReduceAdd:
		if old == nil {
			old = 0
		}
		a, aInt, ok1 := number(old)
		b, bInt, ok2 := number(update)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("add %T to %T: both must be numbers", update, old)
		}
		if aInt && bInt {
			return int64(a) + int64(b), nil
		}
		return a + b, nil
	}
	return nil, fmt.Errorf("unknown reducer %q", reducer)
}

// number reads the numeric kinds JSON, YAML and expr produce.
func number(v any) (f float64, integral bool, ok bool) {
	switch t := v.(type) {
	case int:
		return float64(t), true, true
	case int64:
		return float64(t), true, true
	case int32:
		return float64(t), true, true
	case float64:
		return t, t == float64(int64(t)), true
	case float32:
		return float64(t), false, true
	case json.Number:
		f, err := t.Float64()
		return f, err == nil && f == float64(int64(f)), err == nil
	}
	return 0, false, false
}
