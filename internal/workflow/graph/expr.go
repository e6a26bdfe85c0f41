package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// Expressions are expr-lang programs over an environment holding the state
// ("state.count > 3"). They are compiled once, when the graph is, within
// the limits in limits.go, and evaluated under a meter that stops them at
// the node's timeout, at a cancel, or past their work budget.

func compileExpr(src string) (*vm.Program, error) {
	if len(src) > MaxExprLength {
		return nil, fmt.Errorf("invalid expression: longer than %d characters", MaxExprLength)
	}
	pt := &meterPatch{}
	opts := []expr.Option{expr.Env(map[string]any{"state": map[string]any{}}), expr.AllowUndefinedVariables(),
		expr.MaxNodes(MaxExprNodes), expr.Patch(pt)}
	for name, fn := range meterFunctions {
		opts = append(opts, expr.Function(name, fn))
	}
	p, err := expr.Compile(src, opts...)
	if err != nil {
		// expr's messages carry a caret diagram over several lines: keep
		// the first, which says what is wrong.
		msg, _, _ := strings.Cut(err.Error(), "\n")
		return nil, fmt.Errorf("invalid expression: %s", msg)
	}
	if pt.pattern != nil {
		return nil, fmt.Errorf("invalid expression: %w", pt.pattern)
	}
	if pt.reserved != "" {
		return nil, fmt.Errorf("invalid expression: %s is a reserved name", pt.reserved)
	}
	return p, nil
}

func run(ctx context.Context, p *vm.Program, state map[string]any) (any, error) {
	m := &meter{ctx: ctx, start: time.Now()}
	machine := vm.VM{MemoryBudget: MaxExprMemory}
	v, err := machine.Run(p, map[string]any{"state": state, meterVar: m})
	if m.err != nil {
		// Stopped by the meter: a timeout or cancel is the context's
		// error, so the engine treats it as one.
		return nil, m.err
	}
	if err != nil {
		msg, _, _ := strings.Cut(err.Error(), "\n")
		return nil, permanent(fmt.Errorf("expression failed: %s", msg))
	}
	// The result goes into the state, a checkpoint, a request: it is
	// measured as JSON (shared parts each time).
	if sizeOf(v, MaxExprValueBytes) > MaxExprValueBytes {
		return nil, permanent(fmt.Errorf("%w: a result of more than %d bytes", ErrExprBudget, MaxExprValueBytes))
	}
	return v, nil
}

func truthy(ctx context.Context, p *vm.Program, state map[string]any) (bool, error) {
	v, err := run(ctx, p, state)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, permanent(fmt.Errorf("condition gave %T, not a boolean", v))
	}
	return b, nil
}

// template is text with {{ expression }} holes.
type template struct {
	lits  []string      // len(progs)+1 pieces of literal text
	progs []*vm.Program // the holes, between them
}

func compileTemplate(src string) (*template, error) {
	t := &template{}
	rest := src
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			t.lits = append(t.lits, rest)
			return t, nil
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("unclosed {{ in template")
		}
		p, err := compileExpr(strings.TrimSpace(rest[i+2 : i+j]))
		if err != nil {
			return nil, err
		}
		t.lits = append(t.lits, rest[:i])
		t.progs = append(t.progs, p)
		rest = rest[i+j+2:]
	}
}

// render fills the holes; what they give counts against out (the
// node's), before it is written.
func (t *template) render(ctx context.Context, state map[string]any, out *outputBudget) (string, error) {
	if len(t.progs) == 0 {
		return t.lits[0], nil
	}
	var b strings.Builder
	for i, p := range t.progs {
		b.WriteString(t.lits[i])
		v, err := run(ctx, p, state)
		if err != nil {
			return "", err
		}
		s := text(v)
		if err := out.charge(s); err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	b.WriteString(t.lits[len(t.lits)-1])
	return b.String(), nil
}

// text renders a value in a template: strings as they are, anything else as
// JSON.
func text(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case nil:
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// valueTemplate is a JSON value whose strings are templates (tool
// arguments, HTTP bodies).
type valueTemplate struct {
	v any
}

func compileValue(v any) (*valueTemplate, error) {
	out, err := compileValueRec(v)
	if err != nil {
		return nil, err
	}
	return &valueTemplate{v: out}, nil
}

func compileValueRec(v any) (any, error) {
	switch t := v.(type) {
	case string:
		if !strings.Contains(t, "{{") {
			return t, nil
		}
		// A string that is exactly one hole keeps the value's type.
		if s := strings.TrimSpace(t); strings.HasPrefix(s, "{{") && strings.HasSuffix(s, "}}") && strings.Count(s, "{{") == 1 {
			p, err := compileExpr(strings.TrimSpace(s[2 : len(s)-2]))
			if err != nil {
				return nil, err
			}
			return p, nil
		}
		return compileTemplate(t)
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			c, err := compileValueRec(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			m[k] = c
		}
		return m, nil
	case []any:
		l := make([]any, len(t))
		for i, e := range t {
			c, err := compileValueRec(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			l[i] = c
		}
		return l, nil
	}
	return v, nil
}

func (vt *valueTemplate) render(ctx context.Context, state map[string]any, out *outputBudget) (any, error) {
	return renderValue(ctx, vt.v, state, out)
}

func renderValue(ctx context.Context, v any, state map[string]any, out *outputBudget) (any, error) {
	switch t := v.(type) {
	case *vm.Program:
		r, err := run(ctx, t, state)
		if err != nil {
			return nil, err
		}
		return r, out.charge(r)
	case *template:
		return t.render(ctx, state, out)
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			r, err := renderValue(ctx, e, state, out)
			if err != nil {
				return nil, err
			}
			m[k] = r
		}
		return m, nil
	case []any:
		l := make([]any, len(t))
		for i, e := range t {
			r, err := renderValue(ctx, e, state, out)
			if err != nil {
				return nil, err
			}
			l[i] = r
		}
		return l, nil
	}
	return v, nil
}
