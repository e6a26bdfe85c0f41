// Package llmtest provides models for tests and benchmarks: an in-process
// one that answers from a script and records what it was sent, and a fake
// provider API on a local port (Wire) that speaks the real wire formats and
// fails connections on purpose.
package llmtest

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/pulse-run/pulse/internal/llm"
)

// Turn decides one response from the request (it may inspect the messages
// so far, e.g. the tool results).
type Turn func(req llm.Request) (*llm.Response, error)

// Scripted answers each call with the next turn; past the end it repeats
// the last one.
type Scripted struct {
	mu    sync.Mutex
	turns []Turn
	calls []llm.Request
}

// New returns a scripted model.
func New(turns ...Turn) *Scripted { return &Scripted{turns: turns} }

// Chat implements llm.Provider.
func (s *Scripted) Chat(ctx context.Context, req llm.Request) (*llm.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	i := len(s.calls)
	s.calls = append(s.calls, req)
	if len(s.turns) == 0 {
		s.mu.Unlock()
		return nil, errors.New("llmtest: no turns scripted")
	}
	t := s.turns[min(i, len(s.turns)-1)]
	s.mu.Unlock()
	resp, err := t(req)
	if err == nil && req.OnDelta != nil {
		// Stream word by word, as a model would.
		for _, w := range strings.SplitAfter(resp.Message.Content, " ") {
			if w != "" {
				req.OnDelta(w)
			}
		}
	}
	return resp, err
}

// Calls returns the requests received so far.
func (s *Scripted) Calls() []llm.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]llm.Request(nil), s.calls...)
}

// Say answers with text.
func Say(text string) Turn {
	return func(llm.Request) (*llm.Response, error) {
		return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: text}, Usage: llm.Usage{InputTokens: 10, OutputTokens: 5}, FinishReason: "stop"}, nil
	}
}

// Call asks for tool calls.
func Call(calls ...llm.ToolCall) Turn {
	return func(llm.Request) (*llm.Response, error) {
		return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, ToolCalls: calls}, Usage: llm.Usage{InputTokens: 12, OutputTokens: 8}, FinishReason: "tool_calls"}, nil
	}
}

// Fail returns err.
func Fail(err error) Turn {
	return func(llm.Request) (*llm.Response, error) { return nil, err }
}
