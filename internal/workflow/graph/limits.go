package graph

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm/runtime"
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
)

// How often (in steps) the meter looks at the context.
const meterEvery = 256

const (
	meterVar = "__pulse_meter"
	tickFunc = "__pulse_tick"
	addFunc  = "__pulse_add"
)

// ErrExprBudget is why an evaluation stopped past its budgets.
var ErrExprBudget = errors.New("expression exceeded its work budget")

// meter is one evaluation's budget. It is reached through the
// environment, so each evaluation has its own.
type meter struct {
	ctx   context.Context
	steps int
	bytes int
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

// meterPatch routes predicate bodies and "+" through the meter, and
// notes a user's use of the meter's reserved names.
type meterPatch struct{ reserved string }

func (p *meterPatch) Visit(node *ast.Node) {
	meterArg := func() ast.Node { return &ast.IdentifierNode{Value: meterVar} }
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		p.reserve(n.Value)
	case *ast.VariableDeclaratorNode:
		p.reserve(n.Name)
	case *ast.PredicateNode:
		n.Node = &ast.CallNode{Callee: &ast.IdentifierNode{Value: tickFunc}, Arguments: []ast.Node{meterArg(), n.Node}}
	case *ast.BinaryNode:
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
