package llm_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
)

func TestResolveAndKeyOf(t *testing.T) {
	t.Parallel()
	platform, own := llmtest.New(), llmtest.New()
	reg := llm.NewRegistry()
	reg.Register("openai", platform)
	reg.Register("gemini", platform)
	ctx := llm.WithOverrides(context.Background(), "u1", map[string]llm.Provider{"openai": own})

	p, model, err := reg.Resolve(ctx, "openai/gpt-4.1")
	require.NoError(t, err)
	require.Same(t, own, p, "the user's own key wins")
	require.Equal(t, "gpt-4.1", model)
	require.Equal(t, "user:u1/openai", llm.KeyOf(ctx, "openai/gpt-4.1"))

	p, _, err = reg.Resolve(ctx, "gemini/flash")
	require.NoError(t, err)
	require.Same(t, platform, p)
	require.Equal(t, "gemini", llm.KeyOf(ctx, "gemini/flash"))
	require.Equal(t, "openai", llm.KeyOf(context.Background(), "openai/gpt-4.1"))

	_, _, err = reg.Resolve(ctx, "mistral/large")
	require.ErrorIs(t, err, llm.ErrUnknownProvider)
	_, _, err = reg.Resolve(ctx, "no-slash")
	require.Error(t, err)
}
