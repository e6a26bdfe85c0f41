package graph

import (
	"fmt"
	"reflect"
	"sync"
)

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

// outputBudget bounds what one node's evaluations produce together, as
// JSON, to MaxExprValueBytes. Each evaluation's result is bounded alone,
// but a template's holes, a body's fields, a transform's keys and a
// map's items are separate evaluations: without a sum, N of them build
// N × the limit.
type outputBudget struct {
	mu   sync.Mutex // a map's items finish concurrently
	left int
}

func newOutputBudget() *outputBudget { return &outputBudget{left: MaxExprValueBytes} }

// charge counts v against the budget, or says it is spent.
func (b *outputBudget) charge(v any) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := sizeOf(v, b.left)
	if n > b.left {
		b.left = 0
		return permanent(fmt.Errorf("%w: a node's values of more than %d bytes in all", ErrExprBudget, MaxExprValueBytes))
	}
	b.left -= n
	return nil
}
