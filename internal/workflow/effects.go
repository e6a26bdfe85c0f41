package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/outbound"
	"github.com/pulse-run/pulse/internal/workflow/graph"
)

// AgentRunner runs an agent as a node: a real run, with its own trace,
// whose token deltas reach the workflow's stream.
type AgentRunner interface {
	RunAgent(ctx context.Context, p AgentCall) (graph.AgentResult, error)
}

// AgentCall is one agent node execution.
type AgentCall struct {
	AgentID string
	Input   string
	OnDelta func(text string)
}

// Models resolves "provider/model" to a provider (the run's owner's own
// key first).
type Models interface {
	Resolve(ctx context.Context, model string) (llm.Provider, string, error)
}

// ToolCaller runs a built-in tool by name with JSON arguments.
type ToolCaller func(ctx context.Context, name string, args json.RawMessage) (string, error)

// Effects performs the nodes that reach outside the engine.
type Effects struct {
	Agents AgentRunner
	Models Models
	Tools  ToolCaller
	Client *http.Client // http nodes: an outbound.Policy client
	sub    *Service     // subworkflows
}

var _ graph.Effects = (*Effects)(nil)

var errUnavailable = graph.Permanent(errors.New("not available on this server"))

// Agent runs the agent with the run owner's rights.
func (e *Effects) Agent(ctx context.Context, c graph.Call, agentID, input string) (graph.AgentResult, error) {
	if e.Agents == nil {
		return graph.AgentResult{}, errUnavailable
	}
	return e.Agents.RunAgent(ctx, AgentCall{AgentID: agentID, Input: input, OnDelta: deltas(c)})
}

func deltas(c graph.Call) func(string) {
	return func(text string) {
		c.Emit(graph.Event{Type: events.MessageDelta, Data: map[string]any{"text": text, "step": c.Step}})
	}
}

// LLM makes one model call; with a schema, the answer is parsed JSON.
func (e *Effects) LLM(ctx context.Context, c graph.Call, req graph.LLMCall) (any, error) {
	if e.Models == nil {
		return nil, errUnavailable
	}
	provider, model, err := e.Models.Resolve(ctx, req.Model)
	if err != nil {
		return nil, graph.Permanent(err)
	}
	var msgs []llm.Message
	if req.System != "" {
		msgs = append(msgs, llm.Message{Role: llm.RoleSystem, Content: req.System})
	}
	msgs = append(msgs, llm.Message{Role: llm.RoleUser, Content: req.Prompt})
	resp, err := provider.Chat(ctx, llm.Request{Model: model, Messages: msgs, OutputSchema: req.Schema, OnDelta: deltas(c)})
	if err != nil {
		var le *llm.Error
		if errors.As(err, &le) && !le.Retryable {
			return nil, graph.Permanent(err)
		}
		return nil, err
	}
	if len(req.Schema) == 0 {
		return resp.Message.Content, nil
	}
	var out any
	if err := json.Unmarshal([]byte(resp.Message.Content), &out); err != nil {
		return nil, fmt.Errorf("the model's answer is not JSON: %w", err)
	}
	return out, nil
}

// Tool calls a built-in tool; a JSON answer is kept as JSON.
func (e *Effects) Tool(ctx context.Context, c graph.Call, name string, args any) (any, error) {
	if e.Tools == nil {
		return nil, errUnavailable
	}
	b, err := json.Marshal(args)
	if err != nil {
		return nil, graph.Permanent(err)
	}
	out, err := e.Tools(ctx, name, b)
	if err != nil {
		return nil, err
	}
	return maybeJSON([]byte(out)), nil
}

func maybeJSON(b []byte) any {
	var v any
	if json.Unmarshal(b, &v) == nil {
		return v
	}
	return string(b)
}

// maxHTTPBody bounds what an http node reads.
const maxHTTPBody = 5 << 20

// HTTP makes the request. 5xx and 429 may pass on a retry; other 4xx
// will not.
func (e *Effects) HTTP(ctx context.Context, c graph.Call, req graph.HTTPCall) (any, error) {
	if e.Client == nil {
		return nil, errUnavailable
	}
	var body io.Reader
	if req.Body != nil {
		switch b := req.Body.(type) {
		case string:
			body = strings.NewReader(b)
		default:
			j, err := json.Marshal(b)
			if err != nil {
				return nil, graph.Permanent(err)
			}
			body = bytes.NewReader(j)
			if req.Headers["Content-Type"] == "" {
				req.Headers["Content-Type"] = "application/json"
			}
		}
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, req.URL, body)
	if err != nil {
		return nil, graph.Permanent(err)
	}
	for k, v := range req.Headers {
		hr.Header.Set(k, v)
	}
	resp, err := e.Client.Do(hr)
	if err != nil {
		// The client's errors name the node's host, never the address
		// it resolved to. A refused destination stays refused.
		if errors.Is(err, outbound.ErrRefused) {
			return nil, graph.Permanent(err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPBody))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 400 {
		err := fmt.Errorf("%s %s: status %d: %.200s", req.Method, hr.URL.Redacted(), resp.StatusCode, b)
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout {
			return nil, err
		}
		return nil, graph.Permanent(err)
	}
	return map[string]any{"status": resp.StatusCode, "body": maybeJSON(b)}, nil
}

type depthKey struct{}

// maxDepth bounds subworkflows calling subworkflows (or themselves).
const maxDepth = 5

// Subworkflow runs another of the owner's workflows to its end, in this
// process, as part of this node.
func (e *Effects) Subworkflow(ctx context.Context, c graph.Call, workflowID string, version int, input map[string]any) (map[string]any, error) {
	s := e.sub
	depth, _ := ctx.Value(depthKey{}).(int)
	if depth >= maxDepth {
		return nil, graph.Permanent(fmt.Errorf("subworkflows nest more than %d deep", maxDepth))
	}
	pr, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, graph.Permanent(err)
	}
	w, err := s.store.workflow(ctx, pr.UserID, workflowID)
	if err != nil {
		return nil, graph.Permanent(fmt.Errorf("workflow %s: %w", workflowID, err))
	}
	if version == 0 {
		version = w.PublishedVersion
	}
	if version == 0 {
		version = w.LatestVersion
	}
	g, err := s.compiled(ctx, w.ID, version)
	if err != nil {
		return nil, graph.Permanent(err)
	}
	if err := g.ValidateState(input); err != nil {
		return nil, graph.Permanent(fmt.Errorf("input does not fit workflow %s: %w", workflowID, err))
	}
	out, err := g.Run(context.WithValue(ctx, depthKey{}, depth+1), graph.RunParams{RunID: c.RunID, Input: input, Effects: e, Now: s.now})
	if err != nil {
		return nil, err
	}
	switch out.Status {
	case graph.Succeeded:
		return out.Checkpoint.State, nil
	case graph.Interrupted:
		return nil, graph.Permanent(errors.New("a subworkflow cannot wait for human input"))
	}
	return nil, graph.Permanent(fmt.Errorf("workflow %s failed: %s", workflowID, out.ErrorMessage))
}
