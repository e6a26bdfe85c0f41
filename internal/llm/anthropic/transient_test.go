package anthropic_test

import (
	"testing"

	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/anthropic"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
)

// Reset connections, a body cut after the headers, an overload and a rate
// limit are retried against the Messages API, plain and streamed, and
// classified.
func TestFinding5TransientFailuresAreRetried(t *testing.T) {
	t.Parallel()
	llmtest.TestTransientRetries(t, "claude-test", func(_ *testing.T, baseURL string) llm.Provider {
		return anthropic.New(anthropic.Config{APIKey: "sk-ant-test", BaseURL: baseURL, HTTPClient: llmtest.Client()})
	}, append(llmtest.TransientCases, llmtest.RateLimitedCase))
}
