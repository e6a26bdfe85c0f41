// Package openai is the OpenAI Chat Completions provider, through the
// official openai-go SDK. With a base URL it also serves every
// OpenAI-compatible server: Ollama, vLLM, llama.cpp, OpenRouter. It lives in
// its own package because the SDK is heavy to compile.
package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/platform/outbound"
)

// Config reaches one OpenAI-compatible API.
type Config struct {
	Name       string // the provider name Pulse shows ("openai", "ollama")
	APIKey     string
	BaseURL    string // empty: api.openai.com
	HTTPClient *http.Client
}

// Provider implements llm.Provider.
type Provider struct {
	name   string
	client openai.Client
}

var _ llm.Provider = (*Provider)(nil)

// New returns a provider. The SDK's own retries are off: llm.Retry applies
// one policy to every provider.
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
	name := c.Name
	if name == "" {
		name = "openai"
	}
	return &Provider{name: name, client: openai.NewClient(opts...)}
}

// Chat implements llm.Provider.
func (p *Provider) Chat(ctx context.Context, req llm.Request) (*llm.Response, error) {
	params := openai.ChatCompletionNewParams{Model: req.Model, Messages: messages(req.Messages)}
	for _, t := range req.Tools {
		var schema shared.FunctionParameters
		if err := json.Unmarshal(t.Parameters, &schema); err != nil {
			return nil, fmt.Errorf("openai: tool %s: %w", t.Name, err)
		}
		params.Tools = append(params.Tools, openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: t.Name, Description: openai.String(t.Description), Parameters: schema}))
	}
	if req.Temperature != nil {
		params.Temperature = openai.Float(*req.Temperature)
	}
	if req.TopP != nil {
		params.TopP = openai.Float(*req.TopP)
	}
	if req.MaxTokens > 0 {
		params.MaxCompletionTokens = openai.Int(int64(req.MaxTokens))
	}
	if len(req.OutputSchema) > 0 {
		var schema map[string]any
		if err := json.Unmarshal(req.OutputSchema, &schema); err != nil {
			return nil, fmt.Errorf("openai: output schema: %w", err)
		}
		params.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "output", Schema: schema}}}
	}
	if req.OnDelta != nil {
		return p.stream(ctx, params, req.OnDelta)
	}
	resp, err := p.client.Chat.Completions.New(ctx, params)
	if err != nil {
		return nil, p.classify(err)
	}
	return p.response(resp)
}

// stream reads the answer as server-sent chunks, handing each piece of
// text on and assembling the same response as a plain call.
func (p *Provider) stream(ctx context.Context, params openai.ChatCompletionNewParams, onDelta func(string)) (*llm.Response, error) {
	// Without include_usage a stream reports no tokens, and the run could
	// not be charged.
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	s := p.client.Chat.Completions.NewStreaming(ctx, params)
	defer s.Close()
	var acc openai.ChatCompletionAccumulator
	for s.Next() {
		chunk := s.Current()
		acc.AddChunk(chunk)
		if len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
			onDelta(chunk.Choices[0].Delta.Content)
		}
	}
	if err := s.Err(); err != nil {
		return nil, p.classify(err)
	}
	return p.response(&acc.ChatCompletion)
}

func (p *Provider) response(resp *openai.ChatCompletion) (*llm.Response, error) {
	if len(resp.Choices) == 0 {
		return nil, &llm.Error{Provider: p.name, Err: errors.New("no choices in the response")}
	}
	c := resp.Choices[0]
	out := &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: c.Message.Content}, FinishReason: c.FinishReason,
		Usage: llm.Usage{InputTokens: int(resp.Usage.PromptTokens), OutputTokens: int(resp.Usage.CompletionTokens)}}
	for _, tc := range c.Message.ToolCalls {
		out.Message.ToolCalls = append(out.Message.ToolCalls, llm.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: json.RawMessage(tc.Function.Arguments)})
	}
	return out, nil
}

func messages(in []llm.Message) []openai.ChatCompletionMessageParamUnion {
	out := make([]openai.ChatCompletionMessageParamUnion, 0, len(in))
	for _, m := range in {
		switch m.Role {
		case llm.RoleSystem:
			out = append(out, openai.SystemMessage(m.Content))
		case llm.RoleUser:
			out = append(out, openai.UserMessage(m.Content))
		case llm.RoleTool:
			out = append(out, openai.ToolMessage(m.Content, m.ToolCallID))
		case llm.RoleAssistant:
			a := openai.ChatCompletionAssistantMessageParam{}
			if m.Content != "" {
				a.Content.OfString = openai.String(m.Content)
			}
			for _, tc := range m.ToolCalls {
				a.ToolCalls = append(a.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
					ID: tc.ID, Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: tc.Name, Arguments: string(tc.Arguments)}}})
			}
			out = append(out, openai.ChatCompletionMessageParamUnion{OfAssistant: &a})
		}
	}
	return out
}

// classify turns SDK errors into llm.Error so the retry and fallback logic
// can act on them; llm.Classify reads the status, or the transport failure
// the SDK wraps.
func (p *Provider) classify(err error) error {
	var api *openai.Error
	if errors.As(err, &api) {
		msg := fmt.Errorf("%s", api.Message)
		if api.Message == "" {
			msg = fmt.Errorf("HTTP %d", api.StatusCode)
		}
		var h http.Header
		if api.Response != nil {
			h = api.Response.Header
		}
		return llm.NewError(p.name, api.StatusCode, h, msg)
	}
	return llm.NewError(p.name, 0, nil, err)
}
