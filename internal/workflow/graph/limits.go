package graph

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm/runtime"

	"github.com/pulse-run/pulse/internal/platform/regexlimit"
)

// Bounds on expressions. Their authors are users, so an expression must
// not hold a CPU or the memory. What is saved is bounded (source length,
// syntax nodes). What runs is metered: expr's VM cannot take a context,
// so every predicate body (filter, any, map... the only loops) and every
// "+" is patched to go through the meter, which stops the evaluation when
// the node's context ends (its timeout, a cancel) or when it exceeds its
// work or memory budget.
const (
	// MaxExprLength bounds an expression's source, in bytes.
	MaxExprLength = 4096
	// MaxExprNodes bounds an expression's syntax tree.
	MaxExprNodes = 1000
	// MaxExprSteps bounds the predicate iterations of one evaluation
	// (about a second of CPU).
	MaxExprSteps = 5_000_000
	// MaxExprMemory is expr's own memory budget for one evaluation
	// (ranges, arrays, maps, repeat: in its units, mostly items).
	MaxExprMemory = 1_000_000
	// MaxExprStringBytes bounds the bytes that "+" may build in one
	// evaluation (string doubling).
	MaxExprStringBytes = 4 << 20
	// MaxExprValueBytes bounds the size of an evaluation's result, and of
	// what string, toJSON and join render, counted as JSON would be
	// without sharing: map(a, map(a, a)) is small in memory but a billion
	// items in a checkpoint.
	MaxExprValueBytes = 16 << 20
	// MaxExprRegexWork bounds instructions × bytes of the matches of one
	// evaluation (about a second at worst).
	MaxExprRegexWork = 100_000_000
	// MaxExprDuration bounds an evaluation's time, whatever the node's
	// timeout: steps cost more than their count (a builtin on a long
	// string), so the meter also looks at the clock.
	MaxExprDuration = 2 * time.Second
)

// How often (in steps) the meter looks at the context.
const meterEvery = 256

const (
	meterVar    = "__pulse_meter"
	tickFunc    = "__pulse_tick"
	addFunc     = "__pulse_add"
	sizedFunc   = "__pulse_sized"
	repeatFunc  = "__pulse_repeat"
	replaceFunc = "__pulse_replace"
	matchesFunc = "__pulse_matches"
)

// meterFunctions are the meter's functions, for expr.Function.
var meterFunctions = map[string]func(params ...any) (any, error){
	tickFunc: tick, addFunc: add, sizedFunc: sized, repeatFunc: repeat, replaceFunc: replace, matchesFunc: matches,
}

// rendered are the builtins whose output is their first argument
// rendered as text: it is measured before they run.
var rendered = map[string]bool{"string": true, "toJSON": true, "join": true}

// ErrExprBudget is why an evaluation stopped past its budgets.
var ErrExprBudget = errors.New("expression exceeded its work budget")

// meter is one evaluation's budget. It is reached through the
// environment, so each evaluation has its own.
type meter struct {
	ctx   context.Context
	start time.Time
	steps int
	bytes int
	regex int                 // instructions × bytes matched
	res   map[string]*pattern // patterns compiled in this evaluation
	err   error
}

func (m *meter) step() error {
	if m.err != nil {
		return m.err
	}
	m.steps++
	if m.steps > MaxExprSteps {
		m.err = permanent(fmt.Errorf("%w: more than %d iterations", ErrExprBudget, MaxExprSteps))
	} else if m.steps%meterEvery == 0 {
		if err := m.ctx.Err(); err != nil {
			m.err = err
		} else if time.Since(m.start) > MaxExprDuration {
			m.err = permanent(fmt.Errorf("%w: more than %v", ErrExprBudget, MaxExprDuration))
		}
	}
	return m.err
}

func meterOf(v any) (*meter, error) {
	m, ok := v.(*meter)
	if !ok || m == nil {
		return nil, errors.New("the expression's meter is missing")
	}
	return m, nil
}

// tick(meter, v) counts one step and gives v.
func tick(params ...any) (any, error) {
	if len(params) != 2 {
		return nil, errors.New("tick takes two arguments")
	}
	m, err := meterOf(params[0])
	if err != nil {
		return nil, err
	}
	if err := m.step(); err != nil {
		return nil, err
	}
	return params[1], nil
}

// add(meter, a, b) is a + b, with the strings it builds counted.
func add(params ...any) (any, error) {
	if len(params) != 3 {
		return nil, errors.New("add takes three arguments")
	}
	m, err := meterOf(params[0])
	if err != nil {
		return nil, err
	}
	if err := m.step(); err != nil {
		return nil, err
	}
	a, aok := params[1].(string)
	b, bok := params[2].(string)
	if aok && bok {
		if m.bytes += len(a) + len(b); m.bytes > MaxExprStringBytes {
			m.err = permanent(fmt.Errorf("%w: strings of more than %d bytes", ErrExprBudget, MaxExprStringBytes))
			return nil, m.err
		}
		return a + b, nil
	}
	return runtime.Add(params[1], params[2]), nil
}

// build charges n bytes of strings about to be built.
func (m *meter) build(n int) error {
	if m.err != nil {
		return m.err
	}
	if n < 0 || n > MaxExprStringBytes-m.bytes {
		m.err = permanent(fmt.Errorf("%w: strings of more than %d bytes", ErrExprBudget, MaxExprStringBytes))
		return m.err
	}
	m.bytes += n
	return nil
}

// sized(meter, v) is v, if it renders within MaxExprValueBytes.
func sized(params ...any) (any, error) {
	if len(params) != 2 {
		return nil, errors.New("sized takes two arguments")
	}
	m, err := meterOf(params[0])
	if err != nil {
		return nil, err
	}
	if sizeOf(params[1], MaxExprValueBytes) > MaxExprValueBytes {
		m.err = permanent(fmt.Errorf("%w: a value of more than %d bytes to render", ErrExprBudget, MaxExprValueBytes))
		return nil, m.err
	}
	return params[1], nil
}

// repeat(meter, s, n) is expr's repeat, charged before it allocates.
func repeat(params ...any) (any, error) {
	if len(params) != 3 {
		return nil, errors.New("repeat takes two arguments")
	}
	m, err := meterOf(params[0])
	if err != nil {
		return nil, err
	}
	s, ok := params[1].(string)
	if !ok {
		return nil, fmt.Errorf("repeat needs a string, not %T", params[1])
	}
	n, ok := params[2].(int)
	if !ok {
		f, isFloat := params[2].(float64)
		if !isFloat || f != float64(int(f)) {
			return nil, fmt.Errorf("repeat needs an integer count, not %T", params[2])
		}
		n = int(f)
	}
	if n < 0 {
		return nil, errors.New("repeat needs a count of 0 or more")
	}
	if len(s) > 0 && n > MaxExprStringBytes/len(s) {
		return nil, m.build(-1)
	}
	if err := m.build(len(s) * n); err != nil {
		return nil, err
	}
	return strings.Repeat(s, n), nil
}

// replace(meter, s, old, new) is expr's replace (every occurrence),
// charged before it allocates.
func replace(params ...any) (any, error) {
	if len(params) != 4 {
		return nil, errors.New("replace takes three arguments")
	}
	m, err := meterOf(params[0])
	if err != nil {
		return nil, err
	}
	s, ok1 := params[1].(string)
	old, ok2 := params[2].(string)
	repl, ok3 := params[3].(string)
	if !ok1 || !ok2 || !ok3 {
		return nil, errors.New("replace needs three strings")
	}
	n := utf8.RuneCountInString(s) + 1
	if old != "" {
		n = strings.Count(s, old)
	}
	if len(repl) > 0 && n > MaxExprStringBytes/len(repl) {
		return nil, m.build(-1)
	}
	if err := m.build(len(s) + n*len(repl)); err != nil {
		return nil, err
	}
	return strings.ReplaceAll(s, old, repl), nil
}

// matches(meter, s, pattern) is expr's matches operator with the
// pattern bounded like a guardrail's, and the work of the evaluation's
// matches bounded.
func matches(params ...any) (any, error) {
	if len(params) != 3 {
		return nil, errors.New("matches takes two operands")
	}
	m, err := meterOf(params[0])
	if err != nil {
		return nil, err
	}
	if err := m.step(); err != nil {
		return nil, err
	}
	s, ok1 := params[1].(string)
	p, ok2 := params[2].(string)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("matches needs strings, not %T and %T", params[1], params[2])
	}
	pat := m.res[p]
	if pat == nil {
		re, n, err := regexlimit.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("the pattern %s", err)
		}
		if m.res == nil {
			m.res = map[string]*pattern{}
		}
		pat = &pattern{re: re, insts: n}
		m.res[p] = pat
	}
	cost := pat.insts * len(s)
	if cost > MaxExprRegexWork-m.regex {
		m.err = permanent(fmt.Errorf("%w: matches over more than %d instructions × bytes", ErrExprBudget, MaxExprRegexWork))
		return nil, m.err
	}
	m.regex += cost
	return pat.re.MatchString(s), nil
}

// pattern is a compiled matches pattern and its size.
type pattern struct {
	re    *regexp.Regexp
	insts int
}

// sizeOf is about the bytes v takes as JSON, counting shared values
// each time they appear, or more than limit (it stops there, so it costs
// at most about limit steps).
func sizeOf(v any, limit int) int {
	n := 0
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		if n > limit {
			return
		}
		switch v.Kind() {
		case reflect.Interface, reflect.Pointer:
			if v.IsNil() {
				n += 4
				return
			}
			walk(v.Elem())
		case reflect.String:
			n += v.Len() + 2
		case reflect.Slice, reflect.Array:
			n += 2
			for i := 0; i < v.Len() && n <= limit; i++ {
				n++
				walk(v.Index(i))
			}
		case reflect.Map:
			n += 2
			it := v.MapRange()
			for it.Next() && n <= limit {
				n += 2
				walk(it.Key())
				walk(it.Value())
			}
		default:
			n += 8
		}
	}
	walk(reflect.ValueOf(v))
	return n
}

// meterPatch routes predicate bodies and "+" through the meter, and
// notes a user's use of the meter's reserved names.
type meterPatch struct {
	reserved string
	pattern  error // a constant pattern out of bounds
}

func (p *meterPatch) Visit(node *ast.Node) {
	meterArg := func() ast.Node { return &ast.IdentifierNode{Value: meterVar} }
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		p.reserve(n.Value)
	case *ast.VariableDeclaratorNode:
		p.reserve(n.Name)
	case *ast.PredicateNode:
		n.Node = &ast.CallNode{Callee: &ast.IdentifierNode{Value: tickFunc}, Arguments: []ast.Node{meterArg(), n.Node}}
	case *ast.BuiltinNode:
		switch {
		case n.Name == "repeat" || n.Name == "replace":
			fn := repeatFunc
			if n.Name == "replace" {
				fn = replaceFunc
			}
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: fn}, Arguments: append([]ast.Node{meterArg()}, n.Arguments...)})
		case rendered[n.Name] && len(n.Arguments) > 0:
			n.Arguments[0] = &ast.CallNode{Callee: &ast.IdentifierNode{Value: sizedFunc}, Arguments: []ast.Node{meterArg(), n.Arguments[0]}}
		}
	case *ast.BinaryNode:
		if n.Operator == "matches" {
			if c, ok := n.Right.(*ast.StringNode); ok && p.pattern == nil {
				if _, err := regexlimit.Size(c.Value); err != nil {
					p.pattern = fmt.Errorf("the pattern %q %w", c.Value, err)
				}
			}
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: matchesFunc}, Arguments: []ast.Node{meterArg(), n.Left, n.Right}})
			return
		}
		// Only where a string may come out: typed numbers or times cannot
		// grow, and a known type error is left for the checker to report.
		if n.Operator == "+" && mayBeString(n.Left) && mayBeString(n.Right) {
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: addFunc}, Arguments: []ast.Node{meterArg(), n.Left, n.Right}})
		}
	}
}

func mayBeString(n ast.Node) bool {
	t := n.Type()
	return t == nil || t.Kind() == reflect.Interface || t.Kind() == reflect.String
}

func (p *meterPatch) reserve(name string) {
	if strings.HasPrefix(name, "__pulse") && p.reserved == "" {
		p.reserved = name
	}
}
