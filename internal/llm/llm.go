// Package llm is the one interface Pulse uses to talk to language models:
// chat with tools, structured output and token usage, whatever the
// provider. Each provider lives in its own package (their SDKs are heavy to
// compile) and is registered by name.
package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Roles of messages.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Message is one chat message.
type Message struct {
	Role       string     `json:"role"`
	Content    string     `json:"content,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`   // assistant: tools it wants called
	ToolCallID string     `json:"tool_call_id,omitempty"` // tool: which call this answers
	Name       string     `json:"name,omitempty"`         // tool: the tool's name
}

// ToolCall is the model asking for a tool.
type ToolCall struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"` // as the model wrote them: may be invalid
}

// Tool describes a callable tool to the model.
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"` // JSON Schema
}

// Request is one model call.
type Request struct {
	Model        string // the provider's model name, without the provider prefix
	Messages     []Message
	Tools        []Tool
	Temperature  *float64
	TopP         *float64
	MaxTokens    int
	OutputSchema json.RawMessage // ask for JSON matching this schema

	// OnDelta, when set, asks for a streamed answer: it is called with each
	// piece of text as the model writes it, in order, from the calling
	// goroutine. The Response is the same as without it.
	OnDelta func(text string)

	// OnRetry, when set, is told of each failed attempt that a retrying
	// provider (Retry) tries again, before it waits, so the caller can
	// record it in its trace.
	OnRetry func(Retried)
}

// Usage counts tokens.
type Usage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

// Add sums usage.
func (u Usage) Add(o Usage) Usage {
	return Usage{InputTokens: u.InputTokens + o.InputTokens, OutputTokens: u.OutputTokens + o.OutputTokens}
}

// Response is the model's answer.
type Response struct {
	Message      Message // role assistant: text and/or tool calls
	Usage        Usage
	FinishReason string
}

// Provider is a model API.
type Provider interface {
	Chat(ctx context.Context, req Request) (*Response, error)
}

// Error is a provider failure, classified so callers can retry or fall
// back. Providers build it with NewError; Classify reads it.
type Error struct {
	Provider   string
	Status     int        // HTTP status, if any
	Class      ErrorClass // set by NewError; Classify decides when empty
	Retryable  bool       // Class.Retryable(): rate limit, 5xx, transport, timeout
	RateLimit  bool
	RetryAfter string // the provider's Retry-After, if sent
	Err        error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: status %d: %v", e.Provider, e.Status, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrUnknownProvider means no provider is registered under a name.
var ErrUnknownProvider = errors.New("llm: provider not configured")

// Registry resolves "provider/model" to a provider and a model name.
type Registry struct {
	providers map[string]Provider
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{providers: map[string]Provider{}} }

// Register adds or replaces a provider.
func (r *Registry) Register(name string, p Provider) { r.providers[name] = p }

type overridesKey struct{}

type overrides struct {
	owner     string
	providers map[string]Provider
}

// WithOverrides returns a context in which these providers (owner's own
// keys) win over the registry's.
func WithOverrides(ctx context.Context, owner string, p map[string]Provider) context.Context {
	return context.WithValue(ctx, overridesKey{}, overrides{owner: owner, providers: p})
}

// KeyOf names the credential "provider/model" would be called with: the
// provider name for the platform's key, or owner and name for a user's own
// key. Rate limits belong to a credential, so one user's exhausted key must
// not send everyone else to a fallback.
func KeyOf(ctx context.Context, model string) string {
	name, _, _ := strings.Cut(model, "/")
	if o, ok := ctx.Value(overridesKey{}).(overrides); ok {
		if _, own := o.providers[name]; own {
			return "user:" + o.owner + "/" + name
		}
	}
	return name
}

// Resolve splits "provider/model" and finds the provider: the caller's own
// (from ctx) first, then the platform's.
func (r *Registry) Resolve(ctx context.Context, model string) (Provider, string, error) {
	name, m, ok := strings.Cut(model, "/")
	if !ok || m == "" {
		return nil, "", fmt.Errorf("llm: model %q is not provider/model", model)
	}
	if o, ok := ctx.Value(overridesKey{}).(overrides); ok {
		if p, ok := o.providers[name]; ok {
			return p, m, nil
		}
	}
	p, ok := r.providers[name]
	if !ok {
		return nil, "", fmt.Errorf("%w: %s", ErrUnknownProvider, name)
	}
	return p, m, nil
}
