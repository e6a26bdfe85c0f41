package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/ids"
)

// transports builds, per test, a fresh transport of each kind that can run
// here; the PostgreSQL and Redis ones twice, as two processes would.
type transport struct {
	name string
	make func(t *testing.T) (events.Transport, events.Transport)
}

func transports() []transport {
	out := []transport{{"memory", func(*testing.T) (events.Transport, events.Transport) {
		m := events.NewMemory(0)
		return m, m
	}}}
	out = append(out, transport{"postgres", func(t *testing.T) (events.Transport, events.Transport) {
		d := dbtest.Open(t, config.Postgres) // skips without PULSE_TEST_POSTGRES_URL
		return events.NewPostgres(d.PgxPool(), d.Schema()), events.NewPostgres(d.PgxPool(), d.Schema())
	}})
	out = append(out, transport{"redis", func(t *testing.T) (events.Transport, events.Transport) {
		url := os.Getenv("PULSE_TEST_REDIS_URL")
		if url == "" {
			t.Skip("PULSE_TEST_REDIS_URL is not set")
		}
		opt, err := redis.ParseURL(url)
		require.NoError(t, err)
		c := redis.NewClient(opt)
		t.Cleanup(func() { _ = c.Close() })
		prefix := "test:" + ids.New() + ":"
		t.Cleanup(func() { c.Del(context.Background(), prefix+"events:log") })
		return events.NewRedis(c, prefix), events.NewRedis(c, prefix)
	}})
	return out
}

type testBundle struct {
	a, b *events.Bus // two processes
}

func setup(t *testing.T, tr transport) *testBundle {
	t.Helper()
	ta, tb := tr.make(t)
	a, b := events.New(ta, nil), events.New(tb, nil)
	a.Start(context.Background())
	t.Cleanup(a.Close)
	if tb != ta {
		b.Start(context.Background())
		t.Cleanup(b.Close)
	} else {
		b = a
	}
	return &testBundle{a: a, b: b}
}

func recv(t *testing.T, s *events.Sub) events.Event {
	t.Helper()
	select {
	case ev := <-s.C():
		return ev.Event
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
		return events.Event{}
	}
}

func none(t *testing.T, s *events.Sub) {
	t.Helper()
	select {
	case ev := <-s.C():
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(150 * time.Millisecond):
	}
}

// waitListening publishes probes until the other side hears one: LISTEN and
// SUBSCRIBE take effect a moment after Start.
func waitListening(t *testing.T, b *testBundle) {
	t.Helper()
	probe := b.b.Subscribe([]string{"probe"}, 64)
	defer probe.Close()
	for i := 0; i < 100; i++ {
		_, err := b.a.Publish(context.Background(), events.Event{Topic: "probe", Type: "probe", Ephemeral: true})
		require.NoError(t, err)
		select {
		case <-probe.C():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("the second process never heard the first")
}

func TestBus(t *testing.T) {
	t.Parallel()
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			t.Run("delivery across processes by topic and by user", func(t *testing.T) {
				t.Parallel()
				b := setup(t, tr)
				waitListening(t, b)
				ctx := context.Background()
				alice, bob, run := ids.New(), ids.New(), ids.New()
				mine := b.b.Subscribe([]string{events.UserKey(alice)}, 16)
				both := b.b.Subscribe([]string{events.UserKey(alice), events.RunKey(run)}, 16)
				theirs := b.b.Subscribe([]string{events.UserKey(bob)}, 16)
				defer mine.Close()
				defer both.Close()
				defer theirs.Close()

				id, err := b.a.Publish(ctx, events.Event{Topic: events.RunKey(run), UserID: alice, Type: events.StepCompleted, Data: json.RawMessage(`{"seq":1}`)})
				require.NoError(t, err)
				require.NotEmpty(t, id)
				got := recv(t, mine)
				require.Equal(t, id, got.ID)
				require.Equal(t, events.StepCompleted, got.Type)
				require.JSONEq(t, `{"seq":1}`, string(got.Data))
				require.Equal(t, id, recv(t, both).ID)
				none(t, both) // once, although two of its keys match
				none(t, theirs)

				// Ephemeral: delivered live, without an id.
				_, err = b.a.Publish(ctx, events.Event{Topic: events.RunKey(run), UserID: alice, Type: events.MessageDelta, Data: json.RawMessage(`{"text":"Hi"}`), Ephemeral: true})
				require.NoError(t, err)
				d := recv(t, mine)
				require.Equal(t, events.MessageDelta, d.Type)
				require.Empty(t, d.ID)
			})
			t.Run("order and replay after an id", func(t *testing.T) {
				t.Parallel()
				b := setup(t, tr)
				waitListening(t, b)
				ctx := context.Background()
				alice, other := ids.New(), ids.New()
				s := b.b.Subscribe([]string{events.UserKey(alice)}, 64)
				defer s.Close()
				var published []string
				for i := range 20 {
					id, err := b.a.Publish(ctx, events.Event{Topic: "run:x", UserID: alice, Type: "n", Data: json.RawMessage(fmt.Sprint(i))})
					require.NoError(t, err)
					published = append(published, id)
					_, err = b.a.Publish(ctx, events.Event{Topic: "run:y", UserID: other, Type: "n", Data: json.RawMessage(`0`)})
					require.NoError(t, err)
					_, err = b.a.Publish(ctx, events.Event{Topic: "run:x", UserID: alice, Type: "delta", Ephemeral: true})
					require.NoError(t, err)
				}
				var live []string
				for len(live) < 20 {
					if ev := recv(t, s); ev.ID != "" {
						live = append(live, ev.ID)
					}
				}
				require.Equal(t, published, live, "live in publish order")

				// A client that saw the 5th event gets the 15 after it,
				// only its own, durable ones only.
				replayed, err := b.b.Replay(ctx, published[4], []string{events.UserKey(alice)}, 100)
				require.NoError(t, err)
				require.Len(t, replayed, 15)
				require.Equal(t, published[5], replayed[0].ID)
				require.JSONEq(t, `5`, string(replayed[0].Data))
				require.Equal(t, published[19], replayed[14].ID)
				limited, err := b.b.Replay(ctx, "", []string{"run:x"}, 3)
				require.NoError(t, err)
				require.Len(t, limited, 3)
				require.Equal(t, published[0], limited[0].ID)
			})
			t.Run("large payload", func(t *testing.T) {
				t.Parallel()
				b := setup(t, tr)
				waitListening(t, b)
				s := b.b.Subscribe([]string{"run:big"}, 4)
				defer s.Close()
				big := json.RawMessage(`"` + strings.Repeat("x", 20_000) + `"`)
				id, err := b.a.Publish(context.Background(), events.Event{Topic: "run:big", Type: events.StepCompleted, Data: big})
				require.NoError(t, err)
				got := recv(t, s)
				require.Equal(t, id, got.ID)
				require.Equal(t, string(big), string(got.Data), "over NOTIFY's limit, it travels by reference")
			})
		})
	}
}

// A subscriber that stops reading is cut off; the others keep receiving.
func TestSlowConsumerIsDropped(t *testing.T) {
	t.Parallel()
	b := events.New(events.NewMemory(0), nil)
	b.Start(context.Background())
	defer b.Close()
	slow := b.Subscribe([]string{"run:r"}, 2)
	fast := b.Subscribe([]string{"run:r"}, 100)
	for range 10 {
		_, err := b.Publish(context.Background(), events.Event{Topic: "run:r", Type: "x"})
		require.NoError(t, err)
	}
	select {
	case <-slow.Done():
	case <-time.After(time.Second):
		t.Fatal("the slow subscriber was not dropped")
	}
	require.ErrorIs(t, slow.Err(), events.ErrSlowConsumer)
	require.Len(t, fast.C(), 10)
	require.NoError(t, fast.Err())

	b.Close()
	<-fast.Done()
	require.ErrorIs(t, fast.Err(), events.ErrClosed)
	late := b.Subscribe([]string{"x"}, 1)
	<-late.Done()
	require.ErrorIs(t, late.Err(), events.ErrClosed)
	late.Close() // harmless
}

func TestSubscriptionKeysChange(t *testing.T) {
	t.Parallel()
	b := events.New(events.NewMemory(0), nil)
	b.Start(context.Background())
	defer b.Close()
	s := b.Subscribe(nil, 8)
	_, _ = b.Publish(context.Background(), events.Event{Topic: "run:a", Type: "x"})
	none(t, s)
	s.Add("run:a")
	_, _ = b.Publish(context.Background(), events.Event{Topic: "run:a", Type: "y"})
	require.Equal(t, events.Type("y"), recv(t, s).Type)
	s.Remove("run:a")
	_, _ = b.Publish(context.Background(), events.Event{Topic: "run:a", Type: "z"})
	none(t, s)
	require.Empty(t, s.Keys())
	require.Equal(t, 0, b.Subscribers())
}
