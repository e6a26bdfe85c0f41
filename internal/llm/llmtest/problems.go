package llmtest

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Problems collects what a fake server's handler found wrong with a
// request. Handlers run on the server's goroutines, where require (which
// stops the goroutine it runs on, not the test) must not be called: they
// record the problem and answer 400, and the test asserts on its own
// goroutine, when it ends, that there was none.
type Problems struct {
	mu   sync.Mutex
	list []string
}

// NewProblems returns a collector that fails t at cleanup if any handler
// recorded a problem. Create it before the server, so that the server is
// closed (its handlers done) before the check runs.
func NewProblems(t testing.TB) *Problems {
	p := &Problems{}
	t.Cleanup(func() { require.Empty(t, p.All(), "the fake server saw requests it did not expect") })
	return p
}

// Expect records a problem and answers 400 when got is not want; it
// reports whether they were equal, so the handler can stop otherwise.
func (p *Problems) Expect(w http.ResponseWriter, what, want, got string) bool {
	if want == got {
		return true
	}
	return p.Fail(w, "%s: want %q, got %q", what, want, got)
}

// Fail records a problem and answers 400; it returns false.
func (p *Problems) Fail(w http.ResponseWriter, format string, args ...any) bool {
	msg := fmt.Sprintf(format, args...)
	p.mu.Lock()
	p.list = append(p.list, msg)
	p.mu.Unlock()
	http.Error(w, msg, http.StatusBadRequest)
	return false
}

// All returns the problems recorded so far.
func (p *Problems) All() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.list...)
}
