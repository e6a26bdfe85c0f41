// Package gemini is the Google Gemini provider, through the official
// google.golang.org/genai SDK (Gemini API). It lives in its own package
// because the SDK is heavy to compile.
package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/genai"

	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/platform/outbound"
)

// Config reaches the Gemini API.
type Config struct {
	APIKey     string
	BaseURL    string // empty: generativelanguage.googleapis.com
	HTTPClient *http.Client
}

// Provider implements llm.Provider.
type Provider struct{ client *genai.Client }

var _ llm.Provider = (*Provider)(nil)

// New returns a provider. The SDK retries nothing unless
// HTTPOptions.RetryOptions is set, and it is left unset: llm.Retry applies
// one policy to every provider.
func New(ctx context.Context, c Config) (*Provider, error) {
	if c.HTTPClient == nil {
		// Never the SDK's default client: calls go through the policy.
		c.HTTPClient = outbound.Public().Client(outbound.ClientOptions{Timeout: 5 * time.Minute})
	}
	cc := &genai.ClientConfig{APIKey: c.APIKey, Backend: genai.BackendGeminiAPI, HTTPClient: c.HTTPClient}
	if c.BaseURL != "" {
		cc.HTTPOptions.BaseURL = c.BaseURL
	}
	client, err := genai.NewClient(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("gemini: %w", err)
	}
	return &Provider{client: client}, nil
}

// Chat implements llm.Provider.
func (p *Provider) Chat(ctx context.Context, req llm.Request) (*llm.Response, error) {
	cfg := &genai.GenerateContentConfig{}
	var contents []*genai.Content
	for i, m := range req.Messages {
		switch m.Role {
		case llm.RoleSystem:
			cfg.SystemInstruction = genai.NewContentFromText(m.Content, genai.RoleUser)
		case llm.RoleUser:
			contents = append(contents, genai.NewContentFromText(m.Content, genai.RoleUser))
		case llm.RoleAssistant:
			c := &genai.Content{Role: genai.RoleModel}
			if m.Content != "" {
				c.Parts = append(c.Parts, genai.NewPartFromText(m.Content))
			}
			for _, tc := range m.ToolCalls {
				args := map[string]any{}
				_ = json.Unmarshal(tc.Arguments, &args)
				c.Parts = append(c.Parts, &genai.Part{FunctionCall: &genai.FunctionCall{ID: tc.ID, Name: tc.Name, Args: args}})
			}
			contents = append(contents, c)
		case llm.RoleTool:
			// Results go back as functionResponse parts of a user turn;
			// consecutive results share one turn.
			var result any = m.Content
			if json.Valid([]byte(m.Content)) {
				_ = json.Unmarshal([]byte(m.Content), &result)
			}
			part := &genai.Part{FunctionResponse: &genai.FunctionResponse{ID: m.ToolCallID, Name: m.Name, Response: map[string]any{"output": result}}}
			if n := len(contents); n > 0 && i > 0 && req.Messages[i-1].Role == llm.RoleTool {
				contents[n-1].Parts = append(contents[n-1].Parts, part)
				continue
			}
			contents = append(contents, &genai.Content{Role: genai.RoleUser, Parts: []*genai.Part{part}})
		}
	}
	if len(req.Tools) > 0 {
		t := &genai.Tool{}
		for _, tl := range req.Tools {
			var schema any
			if err := json.Unmarshal(tl.Parameters, &schema); err != nil {
				return nil, fmt.Errorf("gemini: tool %s: %w", tl.Name, err)
			}
			t.FunctionDeclarations = append(t.FunctionDeclarations, &genai.FunctionDeclaration{Name: tl.Name, Description: tl.Description, ParametersJsonSchema: schema})
		}
		cfg.Tools = []*genai.Tool{t}
	}
	if len(req.OutputSchema) > 0 {
		var schema any
		if err := json.Unmarshal(req.OutputSchema, &schema); err != nil {
			return nil, fmt.Errorf("gemini: output schema: %w", err)
		}
		cfg.ResponseMIMEType, cfg.ResponseJsonSchema = "application/json", schema
	}
	if req.Temperature != nil {
		v := float32(*req.Temperature)
		cfg.Temperature = &v
	}
	if req.TopP != nil {
		v := float32(*req.TopP)
		cfg.TopP = &v
	}
	if req.MaxTokens > 0 {
		cfg.MaxOutputTokens = int32(req.MaxTokens)
	}
	out := &llm.Response{Message: llm.Message{Role: llm.RoleAssistant}}
	if req.OnDelta == nil {
		resp, err := p.client.Models.GenerateContent(ctx, req.Model, contents, cfg)
		if err != nil {
			return nil, classify(err)
		}
		if !add(out, resp, nil) {
			return nil, &llm.Error{Provider: "gemini", Err: errors.New("no candidate in the response")}
		}
		return out, nil
	}
	// A stream is a series of partial responses: text parts are deltas,
	// function calls arrive whole, and the last chunk carries the usage and
	// the finish reason.
	got := false
	for resp, err := range p.client.Models.GenerateContentStream(ctx, req.Model, contents, cfg) {
		if err != nil {
			return nil, classify(err)
		}
		got = add(out, resp, req.OnDelta) || got
	}
	if !got {
		return nil, &llm.Error{Provider: "gemini", Err: errors.New("no candidate in the response")}
	}
	return out, nil
}

// add merges one (possibly partial) response into out and reports whether
// it held a candidate.
func add(out *llm.Response, resp *genai.GenerateContentResponse, onDelta func(string)) bool {
	if u := resp.UsageMetadata; u != nil {
		out.Usage = llm.Usage{InputTokens: int(u.PromptTokenCount), OutputTokens: int(u.CandidatesTokenCount)}
	}
	if len(resp.Candidates) == 0 || resp.Candidates[0].Content == nil {
		return false
	}
	cand := resp.Candidates[0]
	if cand.FinishReason != "" {
		out.FinishReason = string(cand.FinishReason)
	}
	for _, part := range cand.Content.Parts {
		switch {
		case part.FunctionCall != nil:
			args, _ := json.Marshal(part.FunctionCall.Args)
			id := part.FunctionCall.ID
			if id == "" {
				id = fmt.Sprintf("call_%d", len(out.Message.ToolCalls)) // older models send no id
			}
			out.Message.ToolCalls = append(out.Message.ToolCalls, llm.ToolCall{ID: id, Name: part.FunctionCall.Name, Arguments: args})
		case part.Text != "" && !part.Thought:
			out.Message.Content += part.Text
			if onDelta != nil {
				onDelta(part.Text)
			}
		}
	}
	return true
}

// classify turns SDK errors into llm.Error; llm.Classify reads the status,
// or the transport failure the SDK wraps.
func classify(err error) error {
	var api genai.APIError
	if errors.As(err, &api) {
		return llm.NewError("gemini", api.Code, nil, fmt.Errorf("HTTP %d: %s", api.Code, api.Message))
	}
	return llm.NewError("gemini", 0, nil, err)
}
