package tool

import (
	"context"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
)

func TestMCPSessionPool(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	pool := &mcpSessions{open: map[string]*pooledSession{}, now: func() time.Time { return now }}
	dials := 0
	dial := func(ctx context.Context) (*mcp.ClientSession, error) {
		dials++
		server := mcp.NewServer(&mcp.Implementation{Name: "s", Version: "1"}, nil)
		ct, st := mcp.NewInMemoryTransports()
		if _, err := server.Connect(ctx, st, nil); err != nil {
			return nil, err
		}
		return mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, ct, nil)
	}
	closed := func(s *mcp.ClientSession) bool {
		done := make(chan struct{})
		go func() { _ = s.Wait(); close(done) }()
		select {
		case <-done:
			return true
		case <-time.After(2 * time.Second):
			return false
		}
	}
	ctx := context.Background()

	first, err := pool.get(ctx, "a", dial)
	require.NoError(t, err)
	again, err := pool.get(ctx, "a", dial)
	require.NoError(t, err)
	require.Same(t, first, again)
	require.Equal(t, 1, dials)

	other, err := pool.get(ctx, "b", dial)
	require.NoError(t, err)
	require.NotSame(t, first, other, "one session per server")

	now = now.Add(mcpMaxAge + time.Second)
	fresh, err := pool.get(ctx, "a", dial)
	require.NoError(t, err)
	require.NotSame(t, first, fresh, "too old to reuse")
	require.True(t, closed(first), "the old session is closed")
	require.True(t, closed(other), "old sessions of other servers too")

	pool.drop("a", first) // a stale handle does not drop the new session
	same, _ := pool.get(ctx, "a", dial)
	require.Same(t, fresh, same)
	pool.drop("a", nil)
	require.True(t, closed(fresh))

	last, _ := pool.get(ctx, "a", dial)
	pool.closeAll()
	require.True(t, closed(last))
	require.Empty(t, pool.open)
	require.Equal(t, 4, dials)
}
