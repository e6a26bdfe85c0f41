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
	time.Sleep(DeltaEvery)
	d.Add(map[string]any{"node": "a", "step": 1, "text": "x"})
	require.Len(t, sent, 1, "after the interval a piece leaves at once")
}
