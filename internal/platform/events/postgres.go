package events

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres carries events between processes sharing one database: durable
// events are rows of pulse_events (the replay window) announced with
// NOTIFY; a payload over NOTIFY's limit travels as a reference to its row.
// Ephemeral events are NOTIFY only.
type Postgres struct {
	pool    *pgxpool.Pool
	channel string
	lastID  atomic.Int64 // highest id delivered, to catch up after a reconnect
}

var _ Transport = (*Postgres)(nil)

// NewPostgres uses pool; schema names the channel, so databases shared by
// several Pulse schemas (tests) do not hear each other.
func NewPostgres(pool *pgxpool.Pool, schema string) *Postgres {
	ch := "pulse_events"
	if schema != "" {
		ch += "_" + schema
	}
	return &Postgres{pool: pool, channel: ch}
}

// wire is an event as NOTIFY carries it.
type wire struct {
	Event
	Ref bool `json:"ref,omitempty"` // only the id: read the row
}

// Publish implements Transport.
func (p *Postgres) Publish(ctx context.Context, ev Event) (string, error) {
	if len(ev.Data) == 0 {
		ev.Data = json.RawMessage(`null`)
	}
	size := len(ev.Data) + len(ev.Topic) + len(ev.UserID) + len(ev.Type) + 96
	if ev.Ephemeral && size <= maxNotifyPayload {
		b, err := json.Marshal(ev)
		if err != nil {
			return "", err
		}
		_, err = p.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, p.channel, string(b))
		return "", err
	}
	// An ephemeral event too big to notify is stored like a durable one.
	ev.Ephemeral = false
	var id int64
	err := p.pool.QueryRow(ctx, `
		WITH e AS (INSERT INTO pulse_events (topic, user_id, type, data) VALUES ($1, $2, $3, $4::jsonb) RETURNING id)
		SELECT id, pg_notify($5, CASE WHEN $6::boolean
			THEN json_build_object('id', id::text, 'topic', $1::text, 'user_id', $2::text, 'type', $3::text, 'data', $4::json)::text
			ELSE json_build_object('id', id::text, 'ref', true)::text END) FROM e`,
		ev.Topic, ev.UserID, ev.Type, string(ev.Data), p.channel, size <= maxNotifyPayload).Scan(&id, nil)
	if err != nil {
		return "", fmt.Errorf("events: publish: %w", err)
	}
	return strconv.FormatInt(id, 10), nil
}

// Replay implements Transport.
func (p *Postgres) Replay(ctx context.Context, rp ReplayParams) ([]Event, error) {
	after, _ := strconv.ParseInt(rp.After, 10, 64)
	if rp.Limit <= 0 {
		rp.Limit = 1000
	}
	rows, err := p.pool.Query(ctx, `SELECT id, topic, user_id, type, data::text FROM pulse_events
		WHERE id > $1 AND (topic = ANY($2) OR user_id = ANY($3)) AND created_at > now() - make_interval(secs => $4)
		ORDER BY id LIMIT $5`, after, rp.Topics, rp.Users, Window.Seconds(), rp.Limit)
	if err != nil {
		return nil, fmt.Errorf("events: replay: %w", err)
	}
	return scanEvents(rows)
}

func scanEvents(rows pgx.Rows) ([]Event, error) {
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var (
			ev   Event
			id   int64
			data string
		)
		if err := rows.Scan(&id, &ev.Topic, &ev.UserID, &ev.Type, &data); err != nil {
			return nil, err
		}
		ev.ID, ev.Data = strconv.FormatInt(id, 10), json.RawMessage(data)
		out = append(out, ev)
	}
	return out, rows.Err()
}

// Run implements Transport: it holds one connection of its own in LISTEN.
// After a reconnect it first delivers the durable events it missed.
func (p *Postgres) Run(ctx context.Context, deliver func(Event)) error {
	conn, err := pgx.ConnectConfig(ctx, p.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("events: listen: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{p.channel}.Sanitize()); err != nil {
		return fmt.Errorf("events: listen: %w", err)
	}
	// Ids delivered while catching up, so a notification of the same event
	// is not delivered twice. Notifications themselves may come out of id
	// order (transactions commit in any order), so only these are skipped.
	var caughtUp map[string]bool
	if last := p.lastID.Load(); last > 0 {
		rows, err := conn.Query(ctx, `SELECT id, topic, user_id, type, data::text FROM pulse_events WHERE id > $1 ORDER BY id LIMIT 10000`, last)
		if err != nil {
			return err
		}
		missed, err := scanEvents(rows)
		if err != nil {
			return err
		}
		caughtUp = make(map[string]bool, len(missed))
		for _, ev := range missed {
			caughtUp[ev.ID] = true
			p.deliver(ev, deliver)
		}
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var w wire
		if err := json.Unmarshal([]byte(n.Payload), &w); err != nil || caughtUp[w.ID] {
			continue
		}
		if w.Ref {
			id, _ := strconv.ParseInt(w.ID, 10, 64)
			rows, err := conn.Query(ctx, `SELECT id, topic, user_id, type, data::text FROM pulse_events WHERE id = $1`, id)
			if err != nil {
				return err
			}
			evs, err := scanEvents(rows)
			if err != nil {
				return err
			}
			if len(evs) == 0 {
				continue // pruned already
			}
			w.Event = evs[0]
		}
		p.deliver(w.Event, deliver)
	}
}

func (p *Postgres) deliver(ev Event, deliver func(Event)) {
	if id, err := strconv.ParseInt(ev.ID, 10, 64); err == nil {
		for {
			last := p.lastID.Load()
			if id <= last || p.lastID.CompareAndSwap(last, id) {
				break
			}
		}
	}
	deliver(ev)
}

// Prune implements Transport.
func (p *Postgres) Prune(ctx context.Context) (int64, error) {
	tag, err := p.pool.Exec(ctx, `DELETE FROM pulse_events WHERE created_at < now() - make_interval(secs => $1)`, Window.Seconds())
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
