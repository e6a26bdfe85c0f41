package events

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis carries events through Redis: durable events are appended to a
// stream trimmed to the replay window (the stream id is the event id) and
// announced on a pub/sub channel in the same script, so announcements come
// in id order; ephemeral events are only published.
type Redis struct {
	client  *redis.Client
	stream  string
	channel string

	mu     sync.Mutex
	lastID string // highest id delivered, to catch up when Run restarts
}

var _ Transport = (*Redis)(nil)

// NewRedis uses keys under prefix.
func NewRedis(client *redis.Client, prefix string) *Redis {
	return &Redis{client: client, stream: prefix + "events:log", channel: prefix + "events:live"}
}

// publishScript appends to the stream, trimming what is older than the
// window, and announces "<id>\n<event>".
var publishScript = redis.NewScript(`
local id = redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[1], '*', 'e', ARGV[2])
redis.call('PUBLISH', KEYS[2], id .. '\n' .. ARGV[2])
return id`)

// Publish implements Transport.
func (r *Redis) Publish(ctx context.Context, ev Event) (string, error) {
	ev.ID = ""
	b, err := json.Marshal(ev)
	if err != nil {
		return "", err
	}
	if ev.Ephemeral {
		return "", r.client.Publish(ctx, r.channel, "\n"+string(b)).Err()
	}
	minID := strconv.FormatInt(time.Now().Add(-Window).UnixMilli(), 10)
	id, err := publishScript.Run(ctx, r.client, []string{r.stream, r.channel}, minID, string(b)).Text()
	if err != nil {
		return "", fmt.Errorf("events: publish: %w", err)
	}
	return id, nil
}

func decodeRedis(id, payload string) (Event, bool) {
	var ev Event
	if json.Unmarshal([]byte(payload), &ev) != nil {
		return ev, false
	}
	ev.ID = id
	return ev, true
}

// Replay implements Transport.
func (r *Redis) Replay(ctx context.Context, p ReplayParams) ([]Event, error) {
	if p.Limit <= 0 {
		p.Limit = 1000
	}
	start := "-"
	if p.After != "" {
		start = "(" + p.After
	}
	cutoff := time.Now().Add(-Window).UnixMilli()
	var out []Event
	for {
		msgs, err := r.client.XRangeN(ctx, r.stream, start, "+", 500).Result()
		if err != nil {
			return nil, fmt.Errorf("events: replay: %w", err)
		}
		for _, m := range msgs {
			ms, _, _ := strings.Cut(m.ID, "-")
			if t, _ := strconv.ParseInt(ms, 10, 64); t < cutoff {
				continue
			}
			payload, _ := m.Values["e"].(string)
			ev, ok := decodeRedis(m.ID, payload)
			if !ok {
				continue
			}
			if slices.Contains(p.Topics, ev.Topic) || (ev.UserID != "" && slices.Contains(p.Users, ev.UserID)) {
				out = append(out, ev)
				if len(out) == p.Limit {
					return out, nil
				}
			}
		}
		if len(msgs) < 500 {
			return out, nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// Run implements Transport.
func (r *Redis) Run(ctx context.Context, deliver func(Event)) error {
	ps := r.client.Subscribe(ctx, r.channel)
	defer ps.Close()
	// A blocked read does not watch ctx: closing the connection ends it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	if _, err := ps.Receive(ctx); err != nil { // the subscription confirmation
		return fmt.Errorf("events: subscribe: %w", err)
	}
	r.mu.Lock()
	last := r.lastID
	r.mu.Unlock()
	caughtUp := map[string]bool{}
	if last != "" {
		msgs, err := r.client.XRangeN(ctx, r.stream, "("+last, "+", 10000).Result()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			payload, _ := m.Values["e"].(string)
			if ev, ok := decodeRedis(m.ID, payload); ok {
				caughtUp[ev.ID] = true
				r.deliver(ev, deliver)
			}
		}
	}
	for {
		msg, err := ps.ReceiveMessage(ctx)
		if err != nil {
			return err
		}
		id, payload, _ := strings.Cut(msg.Payload, "\n")
		if caughtUp[id] && id != "" {
			continue
		}
		if ev, ok := decodeRedis(id, payload); ok {
			r.deliver(ev, deliver)
		}
	}
}

func (r *Redis) deliver(ev Event, deliver func(Event)) {
	if ev.ID != "" {
		r.mu.Lock()
		r.lastID = ev.ID // the script announces in id order
		r.mu.Unlock()
	}
	deliver(ev)
}

// Prune implements Transport: the stream is trimmed as it grows; this also
// trims it when nothing is published.
func (r *Redis) Prune(ctx context.Context) (int64, error) {
	minID := strconv.FormatInt(time.Now().Add(-Window).UnixMilli(), 10)
	return r.client.XTrimMinID(ctx, r.stream, minID).Result()
}
