package gemini_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/gemini"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
)

// Reset connections, a body cut after the headers and an overload are
// retried against the generateContent API, plain and streamed, and
// classified. (The SDK's errors carry no headers, so Retry-After is not
// read for Gemini.)
func TestFinding5TransientFailuresAreRetried(t *testing.T) {
	t.Parallel()
	llmtest.TestTransientRetries(t, "gemini-test", newProvider, llmtest.TransientCases)
}

func newProvider(t *testing.T, baseURL string) llm.Provider {
	p, err := gemini.New(context.Background(), gemini.Config{APIKey: "gm-test", BaseURL: baseURL, HTTPClient: llmtest.Client()})
	require.NoError(t, err)
	return p
}
