// Package anthropic is the Anthropic Messages provider, through the
// official anthropic-sdk-go. It lives in its own package because the SDK is
// heavy to compile.
package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/platform/outbound"
)

// Config reaches the Anthropic API.
type Config struct {
	APIKey     string
	BaseURL    string // empty: api.anthropic.com
	HTTPClient *http.Client
}

// Provider implements llm.Provider.
type Provider struct{ client anthropic.Client }

var _ llm.Provider = (*Provider)(nil)

// New returns a provider; the SDK's retries are off (llm.Retry applies).
func New(c Config) *Provider {
	opts := []option.RequestOption{option.WithAPIKey(c.APIKey), option.WithMaxRetries(0)}
	if c.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(c.BaseURL))
	}
	if c.HTTPClient == nil {
		// Never the SDK's default client: calls go through the policy.
		c.HTTPClient = outbound.Public().Client(outbound.ClientOptions{Timeout: 5 * time.Minute})
	}
	opts = append(opts, option.WithHTTPClient(c.HTTPClient))
	return &Provider{client: anthropic.NewClient(opts...)}
}

// Chat implements llm.Provider.
func (p *Provider) Chat(ctx context.Context, req llm.Request) (*llm.Response, error) {
	params := anthropic.MessageNewParams{Model: anthropic.Model(req.Model), MaxTokens: int64(req.MaxTokens)}
	if params.MaxTokens <= 0 {
		params.MaxTokens = 4096 // required by the API
	}
	system := ""
	for _, m := range req.Messages {
		if m.Role == llm.RoleSystem {
			system += m.Content
		}
	}
	if len(req.OutputSchema) > 0 {
		// No portable JSON-schema mode: ask for it; the run validates and repairs.
		system += "\n\nAnswer with only a JSON value matching this JSON Schema, nothing else:\n" + string(req.OutputSchema)
	}
	if system != "" {
		params.System = []anthropic.TextBlockParam{{Text: system}}
	}
	params.Messages = messages(req.Messages)
	for _, t := range req.Tools {
		var schema struct {
			Properties any      `json:"properties"`
			Required   []string `json:"required"`
		}
		if err := json.Unmarshal(t.Parameters, &schema); err != nil {
			return nil, fmt.Errorf("anthropic: tool %s: %w", t.Name, err)
		}
		tp := anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{Properties: schema.Properties, Required: schema.Required}, t.Name)
		tp.OfTool.Description = anthropic.String(t.Description)
		params.Tools = append(params.Tools, tp)
	}
	if req.Temperature != nil {
		params.Temperature = anthropic.Float(*req.Temperature)
	}
	if req.TopP != nil {
		params.TopP = anthropic.Float(*req.TopP)
	}
	var msg *anthropic.Message
	if req.OnDelta != nil {
		m, err := p.stream(ctx, params, req.OnDelta)
		if err != nil {
			return nil, err
		}
		msg = m
	} else {
		m, err := p.client.Messages.New(ctx, params)
		if err != nil {
			return nil, classify(err)
		}
		msg = m
	}
	out := &llm.Response{Message: llm.Message{Role: llm.RoleAssistant}, FinishReason: string(msg.StopReason),
		Usage: llm.Usage{InputTokens: int(msg.Usage.InputTokens), OutputTokens: int(msg.Usage.OutputTokens)}}
	for _, b := range msg.Content {
		switch b.Type {
		case "text":
			out.Message.Content += b.Text
		case "tool_use":
			out.Message.ToolCalls = append(out.Message.ToolCalls, llm.ToolCall{ID: b.ID, Name: b.Name, Arguments: b.Input})
		}
	}
	return out, nil
}

// stream reads the answer as server-sent events, handing each text delta
// on and accumulating the same message a plain call returns.
func (p *Provider) stream(ctx context.Context, params anthropic.MessageNewParams, onDelta func(string)) (*anthropic.Message, error) {
	s := p.client.Messages.NewStreaming(ctx, params)
	defer s.Close()
	msg := &anthropic.Message{}
	for s.Next() {
		ev := s.Current()
		if err := msg.Accumulate(ev); err != nil {
			return nil, &llm.Error{Provider: "anthropic", Err: fmt.Errorf("malformed stream: %w", err)}
		}
		if ev.Type == "content_block_delta" && ev.Delta.Type == "text_delta" && ev.Delta.Text != "" {
			onDelta(ev.Delta.Text)
		}
	}
	if err := s.Err(); err != nil {
		return nil, classify(err)
	}
	return msg, nil
}

// messages maps the conversation to Anthropic's shape: tool calls are
// tool_use blocks of the assistant, and consecutive tool results are
// tool_result blocks of one user message.
func messages(in []llm.Message) []anthropic.MessageParam {
	var out []anthropic.MessageParam
	for _, m := range in {
		switch m.Role {
		case llm.RoleUser:
			out = append(out, anthropic.NewUserMessage(anthropic.NewTextBlock(m.Content)))
		case llm.RoleAssistant:
			var blocks []anthropic.ContentBlockParamUnion
			if m.Content != "" {
				blocks = append(blocks, anthropic.NewTextBlock(m.Content))
			}
			for _, tc := range m.ToolCalls {
				var input any = map[string]any{}
				_ = json.Unmarshal(tc.Arguments, &input)
				blocks = append(blocks, anthropic.NewToolUseBlock(tc.ID, input, tc.Name))
			}
			out = append(out, anthropic.NewAssistantMessage(blocks...))
		case llm.RoleTool:
			block := anthropic.NewToolResultBlock(m.ToolCallID, m.Content, false)
			if n := len(out); n > 0 && out[n-1].Role == anthropic.MessageParamRoleUser && isToolResults(out[n-1]) {
				out[n-1].Content = append(out[n-1].Content, block)
				continue
			}
			out = append(out, anthropic.NewUserMessage(block))
		}
	}
	return out
}

func isToolResults(m anthropic.MessageParam) bool {
	for _, b := range m.Content {
		if b.OfToolResult == nil {
			return false
		}
	}
	return len(m.Content) > 0
}

// classify turns SDK errors into llm.Error; llm.Classify reads the status
// (529 overloaded is a server error), or the transport failure the SDK
// wraps.
func classify(err error) error {
	var api *anthropic.Error
	if errors.As(err, &api) {
		var h http.Header
		if api.Response != nil {
			h = api.Response.Header
		}
		return llm.NewError("anthropic", api.StatusCode, h, fmt.Errorf("HTTP %d", api.StatusCode))
	}
	return llm.NewError("anthropic", 0, nil, err)
}
