package llm

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPrices(t *testing.T) {
	t.Parallel()
	p, err := LoadPrices("")
	require.NoError(t, err)
	// gpt-4o-mini: 0.15 USD/M in, 0.60 USD/M out → 1,000 in + 500 out = 150 + 300 micro-credits.
	require.Equal(t, int64(450), p.Cost("openai/gpt-4o-mini", Usage{InputTokens: 1000, OutputTokens: 500}))
	require.Equal(t, int64(1), p.Cost("openai/gpt-4o-mini", Usage{InputTokens: 1}), "rounded up, never free")
	require.Zero(t, p.Cost("ollama/llama3", Usage{InputTokens: 1000}), "unpriced models cost nothing")
	require.Zero(t, (*Prices)(nil).Cost("openai/gpt-4o", Usage{InputTokens: 1}))

	f := filepath.Join(t.TempDir(), "prices.json")
	require.NoError(t, os.WriteFile(f, []byte(`{"openai/gpt-4o-mini":{"input":1000000,"output":0},"ollama/llama3":{"input":10,"output":10}}`), 0o600))
	p, err = LoadPrices(f)
	require.NoError(t, err)
	require.Equal(t, int64(1000), p.Cost("openai/gpt-4o-mini", Usage{InputTokens: 1000}), "the file overrides")
	require.Equal(t, int64(1), p.Cost("ollama/llama3", Usage{InputTokens: 1000}), "and extends")
	require.Equal(t, int64(15_000), p.Cost("anthropic/claude-sonnet-4-0", Usage{OutputTokens: 1000}), "the rest stays")

	require.NoError(t, os.WriteFile(f, []byte(`{"x/y":{"input":-1}}`), 0o600))
	_, err = LoadPrices(f)
	require.Error(t, err)
}
