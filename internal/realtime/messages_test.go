package realtime

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/events"
)

// oneRun lets the caller see exactly one run.
type oneRun string

func (r oneRun) CanSee(_ context.Context, id string) error {
	if id != string(r) {
		return apperr.New(apperr.NotFound, "run not found")
	}
	return nil
}

const visibleRun = "0193a5c4-7e2a-7c3d-9f00-000000000001"

// FuzzClientMessage feeds any bytes a WebSocket client could send through
// decoding and handling. Whatever arrives: no panic, an answer of a known
// type with a bounded echo, and a subscription only to a run the caller
// may see.
func FuzzClientMessage(f *testing.F) {
	for _, seed := range []string{
		`{"type":"subscribe","run_id":"` + visibleRun + `"}`,
		`{"type":"unsubscribe","run_id":"` + visibleRun + `"}`,
		`{"type":"subscribe","run_id":"someone-elses-run"}`,
		`{"type":"subscribe"}`,
		`{"type":"SUBSCRIBE","run_id":"x"}`,
		`{"type":"subscribe","run_id":"` + string(make([]byte, 200)) + `"}`,
		`{"type":"subscribe","run_id":"\xff\xfe"}`,
		`{"type":"subscribe","run_id":123}`,
		`{"type":["subscribe"]}`,
		`{"type":"subscribe","run_id":"a","type":"unsubscribe"}`,
		`[]`, `null`, `""`, `{`, ``, "\x00",
	} {
		f.Add([]byte(seed))
	}
	bus := events.New(events.NewMemory(0), slog.New(slog.DiscardHandler))
	f.Cleanup(bus.Close)
	s := New(Params{Bus: bus, Runs: oneRun(visibleRun)})
	f.Fuzz(func(t *testing.T, data []byte) {
		sub := bus.Subscribe(nil, 1)
		defer sub.Close()
		var r reply
		m, err := decodeClientMessage(data)
		if err != nil {
			r = reply{Type: msgError, Error: err.Error()}
			require.LessOrEqual(t, len(err.Error()), 120, "error text stays short whatever the input")
		} else {
			r = s.handleClient(context.Background(), sub, m)
		}
		require.Contains(t, []serverMessageType{msgSubscribed, msgUnsubscribed, msgError}, r.Type)
		require.LessOrEqual(t, len(r.RunID), maxRunIDLen)
		require.True(t, utf8.ValidString(r.RunID))
		for _, k := range sub.Keys() {
			require.Equal(t, events.RunKey(visibleRun), k, "subscribed to a run the caller may not see")
		}
		if r.Type == msgSubscribed {
			require.Equal(t, visibleRun, r.RunID)
		}
		_, err = json.Marshal(r)
		require.NoError(t, err)
	})
}
