// Package providers builds the model providers the configuration enables.
// Only the binary imports it, so test binaries that do not need real
// providers do not link their SDKs.
package providers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/anthropic"
	"github.com/pulse-run/pulse/internal/llm/gemini"
	"github.com/pulse-run/pulse/internal/llm/openai"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/outbound"
)

// FromConfig returns the platform providers, by name, each with retries.
// Their client follows the outbound policy; the base URLs the operator
// configured are admitted (an Ollama on localhost is the usual case).
func FromConfig(cfg *config.Config) map[string]llm.Provider {
	client := outbound.FromConfig(cfg).TrustingURLs(cfg.OpenAIBaseURL, cfg.AnthropicBaseURL, cfg.OllamaBaseURL).
		Client(outbound.ClientOptions{Timeout: 5 * time.Minute})
	out := map[string]llm.Provider{}
	if cfg.OpenAIAPIKey != "" {
		out["openai"] = llm.Retry(openai.New(openai.Config{Name: "openai", APIKey: cfg.OpenAIAPIKey, BaseURL: cfg.OpenAIBaseURL, HTTPClient: client}), llm.RetryPolicy{})
	}
	if cfg.AnthropicAPIKey != "" {
		out["anthropic"] = llm.Retry(anthropic.New(anthropic.Config{APIKey: cfg.AnthropicAPIKey, BaseURL: cfg.AnthropicBaseURL, HTTPClient: client}), llm.RetryPolicy{})
	}
	if cfg.GeminiAPIKey != "" {
		if g, err := gemini.New(context.Background(), gemini.Config{APIKey: cfg.GeminiAPIKey, HTTPClient: client}); err == nil {
			out["gemini"] = llm.Retry(g, llm.RetryPolicy{})
		}
	}
	if cfg.OllamaBaseURL != "" {
		// Ollama speaks the OpenAI API under /v1 and needs no key.
		out["ollama"] = llm.Retry(openai.New(openai.Config{Name: "ollama", APIKey: "ollama", BaseURL: cfg.OllamaBaseURL + "/v1", HTTPClient: client}), llm.RetryPolicy{})
	}
	return out
}

// FromKey builds a provider from a user's own key. client is an outbound
// policy client, so a user's base URL cannot lead inside the network.
func FromKey(provider, key, baseURL string, client *http.Client) (llm.Provider, error) {
	switch provider {
	case "openai":
		return llm.Retry(openai.New(openai.Config{Name: "openai", APIKey: key, BaseURL: baseURL, HTTPClient: client}), llm.RetryPolicy{}), nil
	case "anthropic":
		return llm.Retry(anthropic.New(anthropic.Config{APIKey: key, BaseURL: baseURL, HTTPClient: client}), llm.RetryPolicy{}), nil
	case "gemini":
		g, err := gemini.New(context.Background(), gemini.Config{APIKey: key, BaseURL: baseURL, HTTPClient: client})
		if err != nil {
			return nil, err
		}
		return llm.Retry(g, llm.RetryPolicy{}), nil
	case "ollama":
		if baseURL == "" {
			return nil, errors.New("an ollama key needs a base URL")
		}
		return llm.Retry(openai.New(openai.Config{Name: "ollama", APIKey: key, BaseURL: baseURL + "/v1", HTTPClient: client}), llm.RetryPolicy{}), nil
	}
	return nil, fmt.Errorf("provider %q is not available in this build", provider)
}
