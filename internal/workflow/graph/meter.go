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

	"github.com/expr-lang/expr/vm/runtime"

	"github.com/pulse-run/pulse/internal/platform/regexlimit"
)

// meter is one evaluation's budget. It is reached through the
// environment, so each evaluation has its own.
type meter struct {
	ctx   context.Context
	start time.Time
	steps int
	bytes int
	items int                 // items copied by concat and flatten
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

// poll looks at the context and the clock now, not at the next 256th
// step: the meter's functions that go on to costly work (render, measure,
// copy or match a large value) call it, so a cancel waits for one of
// them, not for 256.
func (m *meter) poll() error {
	if m.err != nil {
		return m.err
	}
	if err := m.ctx.Err(); err != nil {
		m.err = err
	} else if time.Since(m.start) > MaxExprDuration {
		m.err = permanent(fmt.Errorf("%w: more than %v", ErrExprBudget, MaxExprDuration))
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
		if len(a)+len(b) > 1<<16 {
			if err := m.poll(); err != nil {
				return nil, err
			}
		}
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
	if err := m.poll(); err != nil {
		return err
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
	if err := m.poll(); err != nil {
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
		if len(m.res) >= MaxExprPatterns {
			m.err = permanent(fmt.Errorf("%w: matches with more than %d distinct patterns", ErrExprBudget, MaxExprPatterns))
			return nil, m.err
		}
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
	if err := m.poll(); err != nil {
		return nil, err
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

// countItems(meter, v, deep) is v, once its items (deep: all the way
// down, as flatten copies them) are counted against MaxExprMemory.
func countItems(params ...any) (any, error) {
	if len(params) != 3 {
		return nil, errors.New("items takes three arguments")
	}
	m, err := meterOf(params[0])
	if err != nil {
		return nil, err
	}
	if err := m.poll(); err != nil {
		return nil, err
	}
	deep, _ := params[2].(bool)
	if m.items += leaves(reflect.ValueOf(params[1]), deep, MaxExprMemory-m.items+1); m.items > MaxExprMemory {
		m.err = permanent(fmt.Errorf("%w: arrays of more than %d items", ErrExprBudget, MaxExprMemory))
		return nil, m.err
	}
	return params[1], nil
}

// leaves counts v's items (deep: the items of nested arrays instead of
// the arrays), up to about limit.
func leaves(v reflect.Value, deep bool, limit int) int {
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return 0
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
		return 0
	}
	if !deep {
		return v.Len()
	}
	n := 0
	for i := 0; i < v.Len() && n <= limit; i++ {
		e := v.Index(i)
		for e.Kind() == reflect.Interface || e.Kind() == reflect.Pointer {
			if e.IsNil() {
				break
			}
			e = e.Elem()
		}
		if e.Kind() == reflect.Slice || e.Kind() == reflect.Array {
			n += leaves(e, true, limit-n)
		} else {
			n++
		}
	}
	return n
}

// join(meter, items[, glue]) is expr's join, measured before it builds:
// the items and the glue between them within MaxExprValueBytes.
func join(params ...any) (any, error) {
	if len(params) != 2 && len(params) != 3 {
		return nil, errors.New("join takes one or two arguments")
	}
	m, err := meterOf(params[0])
	if err != nil {
		return nil, err
	}
	if err := m.poll(); err != nil {
		return nil, err
	}
	glue := ""
	if len(params) == 3 {
		g, ok := params[2].(string)
		if !ok {
			return nil, fmt.Errorf("join needs a string to join with, not %T", params[2])
		}
		glue = g
	}
	var items []string
	switch a := params[1].(type) {
	case []string:
		items = a
	case []any:
		items = make([]string, len(a))
		for i, e := range a {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("join needs strings, not %T", e)
			}
			items[i] = s
		}
	default:
		return nil, fmt.Errorf("invalid argument for join (type %T)", params[1])
	}
	n := 0
	for i, s := range items {
		if i > 0 {
			n += len(glue)
		}
		if n += len(s); n > MaxExprValueBytes {
			m.err = permanent(fmt.Errorf("%w: a value of more than %d bytes to render", ErrExprBudget, MaxExprValueBytes))
			return nil, m.err
		}
	}
	return strings.Join(items, glue), nil
}

// uniq(meter, items) is expr's uniq (the first of each set of equal
// items, in order), in linear time for items of one scalar type, which
// compare as Go's == does, and with each comparison a step otherwise.
func uniq(params ...any) (any, error) {
	if len(params) != 2 {
		return nil, errors.New("uniq takes one argument")
	}
	m, err := meterOf(params[0])
	if err != nil {
		return nil, err
	}
	v := reflect.ValueOf(params[1])
	if v.Kind() != reflect.Array && v.Kind() != reflect.Slice {
		return nil, fmt.Errorf("cannot uniq %s", v.Kind())
	}
	ret := []any{}
	if oneScalarType(v) {
		seen := make(map[any]bool, v.Len())
		for i := 0; i < v.Len(); i++ {
			if err := m.step(); err != nil {
				return nil, err
			}
			x := v.Index(i).Interface()
			if !seen[x] {
				seen[x] = true
				ret = append(ret, x)
			}
		}
		return ret, nil
	}
items:
	for i := 0; i < v.Len(); i++ {
		x := v.Index(i).Interface()
		for _, r := range ret {
			if err := m.step(); err != nil {
				return nil, err
			}
			if runtime.Equal(x, r) {
				continue items
			}
		}
		ret = append(ret, x)
	}
	return ret, nil
}

// oneScalarType reports whether v's items are all strings, all bools or
// all numbers of one Go type.
func oneScalarType(v reflect.Value) bool {
	var t reflect.Type
	for i := 0; i < v.Len(); i++ {
		e := v.Index(i)
		if e.Kind() == reflect.Interface {
			if e.IsNil() {
				return false
			}
			e = e.Elem()
		}
		switch e.Kind() {
		case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		default:
			return false
		}
		if t == nil {
			t = e.Type()
		} else if e.Type() != t {
			return false
		}
	}
	return true
}

// trim(meter, s, cutset) is strings.Trim in time linear in both: the
// cutset's runes go into a set first.
func trim(params ...any) (any, error) {
	if len(params) != 3 {
		return nil, errors.New("trim takes one or two arguments")
	}
	if _, err := meterOf(params[0]); err != nil {
		return nil, err
	}
	s, ok1 := params[1].(string)
	cutset, ok2 := params[2].(string)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("trim needs strings, not %T and %T", params[1], params[2])
	}
	if len(cutset) <= 64 {
		return strings.Trim(s, cutset), nil // at most 64 bytes a rune
	}
	set := map[rune]bool{}
	for _, r := range cutset {
		set[r] = true
	}
	for s != "" {
		r, n := utf8.DecodeRuneInString(s)
		if !set[r] {
			break
		}
		s = s[n:]
	}
	for s != "" {
		r, n := utf8.DecodeLastRuneInString(s)
		if !set[r] {
			break
		}
		s = s[:len(s)-n]
	}
	return s, nil
}

// poll(meter, v) is v, once the context and the clock are looked at.
func poll(params ...any) (any, error) {
	if len(params) != 2 {
		return nil, errors.New("poll takes two arguments")
	}
	m, err := meterOf(params[0])
	if err != nil {
		return nil, err
	}
	if err := m.poll(); err != nil {
		return nil, err
	}
	return params[1], nil
}
