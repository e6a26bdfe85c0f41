package graph

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/expr-lang/expr/ast"

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
	// MaxExprPatterns bounds the distinct patterns one evaluation's
	// matches compile (and keep until it ends): each may take tens of KB.
	MaxExprPatterns = 100
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
	itemsFunc   = "__pulse_items"
	joinFunc    = "__pulse_join"
	uniqFunc    = "__pulse_uniq"
	trimFunc    = "__pulse_trim"
	pollFunc    = "__pulse_poll"
)

// meterFunctions are the meter's functions, for expr.Function.
var meterFunctions = map[string]func(params ...any) (any, error){
	tickFunc: tick, addFunc: add, sizedFunc: sized, repeatFunc: repeat, replaceFunc: replace, matchesFunc: matches,
	itemsFunc: countItems, joinFunc: join, uniqFunc: uniq, trimFunc: trim, pollFunc: poll,
}

// rendered are the builtins whose output is their first argument
// rendered as text: it is measured before they run.
var rendered = map[string]bool{"string": true, "toJSON": true}

// cheap are the builtins whose cost does not grow with their arguments.
var cheap = map[string]bool{"len": true, "type": true, "abs": true, "ceil": true, "floor": true, "round": true, "int": true,
	"float": true, "get": true, "bitnot": true, "bitand": true, "bitor": true, "bitxor": true, "bitnand": true, "bitshl": true,
	"bitshr": true, "bitushr": true}

// arrayBuilders are the builtins that copy the items of their arguments
// into a new array, and charge expr's memory budget only once it is
// built: their arguments' items are counted before they run (flatten's
// all the way down, as shared arrays multiply).
var arrayBuilders = map[string]bool{"concat": true, "flatten": true}

// ErrExprBudget is why an evaluation stopped past its budgets.
var ErrExprBudget = errors.New("expression exceeded its work budget")

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
		case n.Name == "trim" && len(n.Arguments) == 2:
			// strings.Trim looks a non-ASCII cutset through per rune.
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: trimFunc}, Arguments: append([]ast.Node{meterArg()}, n.Arguments...)})
		case n.Name == "uniq":
			// expr's compares each item with every kept one, unmetered.
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: uniqFunc}, Arguments: append([]ast.Node{meterArg()}, n.Arguments...)})
		case n.Name == "join":
			// The glue is repeated between items: measured with them.
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: joinFunc}, Arguments: append([]ast.Node{meterArg()}, n.Arguments...)})
		case arrayBuilders[n.Name]:
			for i, a := range n.Arguments {
				n.Arguments[i] = &ast.CallNode{Callee: &ast.IdentifierNode{Value: itemsFunc},
					Arguments: []ast.Node{meterArg(), a, &ast.BoolNode{Value: n.Name == "flatten"}}}
			}
		case rendered[n.Name] && len(n.Arguments) > 0:
			n.Arguments[0] = &ast.CallNode{Callee: &ast.IdentifierNode{Value: sizedFunc}, Arguments: []ast.Node{meterArg(), n.Arguments[0]}}
		case len(n.Arguments) > 0 && !cheap[n.Name] && mayBeLarge(n.Arguments[0]):
			// Any other builtin may take long on a large argument (parse,
			// split, sort it): the context is looked at before each call,
			// not at the next 256th step.
			n.Arguments[0] = &ast.CallNode{Callee: &ast.IdentifierNode{Value: pollFunc}, Arguments: []ast.Node{meterArg(), n.Arguments[0]}}
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

// mayBeLarge is false for arguments known to be numbers, booleans or
// times: those are left typed, so a wrong one is still refused when saved.
func mayBeLarge(n ast.Node) bool {
	t := n.Type()
	if t == nil {
		return true
	}
	switch t.Kind() {
	case reflect.Interface, reflect.String, reflect.Slice, reflect.Array, reflect.Map:
		return true
	}
	return false
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
