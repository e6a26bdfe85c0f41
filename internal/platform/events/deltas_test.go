package events

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDeltasCoalesceByTags(t *testing.T) {
	t.Parallel()
	var sent []map[string]any
	d := NewDeltas(func(data map[string]any) { sent = append(sent, data) })
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d.now = func() time.Time { return clock }
	d.Add(map[string]any{"seq": 1, "text": "Hel"}) // the first goes at once
	d.Add(map[string]any{"seq": 1, "text": "lo"})
	d.Add(map[string]any{"seq": 1, "text": ", "})
	d.Add(map[string]any{"seq": 2, "text": "wor"}) // other tags: what is held leaves first
	d.Add(map[string]any{"seq": 2, "text": "ld"})
	d.Flush()
	d.Flush()
	require.Equal(t, []map[string]any{
		{"seq": 1, "text": "Hel"}, {"seq": 1, "text": "lo, "}, {"seq": 2, "text": "world"},
	}, sent)

	sent = nil
	clock = clock.Add(DeltaEvery - time.Nanosecond)
	d.Add(map[string]any{"node": "a", "step": 1, "text": "x"})
	require.Empty(t, sent, "within the interval a piece is held")
	clock = clock.Add(time.Nanosecond)
	d.Add(map[string]any{"node": "a", "step": 1, "text": "y"})
	require.Equal(t, []map[string]any{{"node": "a", "step": 1, "text": "xy"}}, sent, "once the interval has passed what is held leaves at once")
}
