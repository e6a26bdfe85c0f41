package durable

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/platform/queue"
)

// item is a fake kind's row: the columns every leased table has.
type item struct {
	bun.BaseModel `bun:"table:durable_items"`

	ID              string     `bun:"id,pk"`
	OwnerID         string     `bun:"owner_id,notnull"`
	Status          string     `bun:"status,notnull"`
	Attempt         int        `bun:"attempt,notnull"`
	LeaseOwner      string     `bun:"lease_owner,notnull"`
	HeartbeatAt     *time.Time `bun:"heartbeat_at"`
	DeadlineAt      *time.Time `bun:"deadline_at"`
	CancelRequested bool       `bun:"cancel_requested,notnull"`
	Background      bool       `bun:"background,notnull"`
	ErrorCode       string     `bun:"error_code,notnull"`
	ErrorMessage    string     `bun:"error_message,notnull"`
	StartedAt       *time.Time `bun:"started_at"`
	FinishedAt      *time.Time `bun:"finished_at"`
}

// other is a second table of the same shape.
type other struct {
	bun.BaseModel `bun:"table:durable_others"`

	ID              string     `bun:"id,pk"`
	OwnerID         string     `bun:"owner_id,notnull"`
	Status          string     `bun:"status,notnull"`
	Attempt         int        `bun:"attempt,notnull"`
	LeaseOwner      string     `bun:"lease_owner,notnull"`
	HeartbeatAt     *time.Time `bun:"heartbeat_at"`
	CancelRequested bool       `bun:"cancel_requested,notnull"`
}

type itemArgs struct {
	ID string `json:"id"`
}

func (itemArgs) Kind() string { return "durable_test_item" }

const lease = 10 * time.Second

type testBundle struct {
	d       *db.DB
	q       *queue.Queue
	core    *Core
	items   *Leases[*item]
	clock   *clock
	ticks   chan time.Time
	renewed chan string
	logs    *syncBuffer
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const itemsDDL = `CREATE TABLE %s (
	id TEXT PRIMARY KEY, owner_id TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0,
	lease_owner TEXT NOT NULL DEFAULT '', heartbeat_at %[2]s, deadline_at %[2]s, cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
	background BOOLEAN NOT NULL DEFAULT FALSE, error_code TEXT NOT NULL DEFAULT '', error_message TEXT NOT NULL DEFAULT '',
	started_at %[2]s, finished_at %[2]s)`

// newCore is a core on d with the bundle's clock and tick (not started).
func (b *testBundle) newCore(p Params) *Core {
	p.DB, p.Queue, p.Lease, p.Now = b.d, b.q, lease, b.clock.now
	c := New(p)
	c.tick = func() <-chan time.Time { return b.ticks }
	c.onRenew = func(table string) { b.renewed <- table }
	return c
}

func setup(t *testing.T, d *db.DB) *testBundle {
	t.Helper()
	ctx := context.Background()
	ts := "TIMESTAMP"
	if d.Engine == config.Postgres {
		ts = "TIMESTAMPTZ"
	}
	for _, table := range []string{"durable_items", "durable_others"} {
		_, err := d.W.ExecContext(ctx, fmt.Sprintf(itemsDDL, table, ts))
		require.NoError(t, err)
	}
	_, err := queue.Migrate(ctx, d, nil)
	require.NoError(t, err)
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[itemArgs]) error { return nil }))
	q, err := queue.New(queue.Params{DB: d, Workers: workers})
	require.NoError(t, err)
	b := &testBundle{d: d, q: q, clock: &clock{t: time.Now().UTC().Truncate(time.Second)}, ticks: make(chan time.Time),
		renewed: make(chan string, 16), logs: &syncBuffer{}}
	b.core = b.newCore(Params{Logger: slog.New(slog.NewTextHandler(b.logs, nil))})
	b.items = AddTable(b.core, itemsTable(b.d))
	t.Cleanup(func() { require.NoError(t, b.core.Stop(context.Background())) })
	return b
}

func itemsTable(d *db.DB) Table[*item] {
	return Table[*item]{Model: (*item)(nil), Name: "durable_items", CancelAction: "durable_test.cancel",
		Job: func(id string) river.JobArgs { return itemArgs{ID: id} },
		Load: func(ctx context.Context, id string) (*item, error) {
			it := &item{}
			return it, d.W.NewSelect().Model(it).Where("id = ?", id).Scan(ctx)
		}}
}

func (b *testBundle) insert(t *testing.T, table any, status string) string {
	t.Helper()
	id := ids.New()
	switch m := table.(type) {
	case *item:
		m.ID, m.OwnerID, m.Status = id, "u1", status
		_, err := b.d.W.NewInsert().Model(m).Exec(context.Background())
		require.NoError(t, err)
	case *other:
		m.ID, m.OwnerID, m.Status = id, "u1", status
		_, err := b.d.W.NewInsert().Model(m).Exec(context.Background())
		require.NoError(t, err)
	}
	return id
}

func (b *testBundle) load(t *testing.T, id string) *item {
	t.Helper()
	it := &item{}
	require.NoError(t, b.d.W.NewSelect().Model(it).Where("id = ?", id).Scan(context.Background()))
	return it
}

// jobs counts the queue jobs of the test kind (each test has a database of
// its own, and requeues one item).
func (b *testBundle) jobs(t *testing.T) int {
	t.Helper()
	n, err := b.d.W.NewSelect().Table("river_job").Where("kind = ?", itemArgs{}.Kind()).Count(context.Background())
	require.NoError(t, err)
	return int(n)
}

// tick makes the core renew once and waits until each of tables was.
func (b *testBundle) tick(t *testing.T, tables ...string) {
	t.Helper()
	select {
	case b.ticks <- b.clock.now():
	case <-time.After(5 * time.Second):
		t.Fatal("the renewal loop did not take the tick")
	}
	for range tables {
		select {
		case <-b.renewed:
		case <-time.After(5 * time.Second):
			t.Fatal("the renewal did not happen")
		}
	}
}

func TestClaim(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		b := setup(t, d)
		ctx := context.Background()

		got, ok, err := b.items.Claim(ctx, "no-such-item")
		require.NoError(t, err)
		require.False(t, ok, "nothing to claim")
		require.Nil(t, got)

		id := b.insert(t, &item{}, StatusQueued)
		got, ok, err = b.items.Claim(ctx, id)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, id, got.ID)
		require.Equal(t, StatusRunning, got.Status)
		require.Equal(t, Instance(), got.LeaseOwner)
		require.Equal(t, 1, got.Attempt)

		_, ok, err = b.items.Claim(ctx, id)
		require.NoError(t, err)
		require.False(t, ok, "a live holder keeps it")

		// Once its holder has been silent for a lease, it may be claimed.
		b.clock.add(lease + time.Second)
		got, ok, err = b.items.Claim(ctx, id)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, 2, got.Attempt)
	})
}

func TestLeaseRenewalAndReaper(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		b := setup(t, d)
		ctx := context.Background()
		require.NoError(t, b.core.Start(ctx))
		id := b.insert(t, &item{}, StatusQueued)
		_, ok, err := b.items.Claim(ctx, id)
		require.NoError(t, err)
		require.True(t, ok)
		runCtx, h, done := b.items.Track(ctx, id, nil)

		// Renewed before the lease runs out, the item stays with us.
		b.clock.add(lease * 4 / 5)
		b.tick(t, "durable_items")
		require.Equal(t, b.clock.now(), b.load(t, id).HeartbeatAt.UTC())
		b.clock.add(lease * 3 / 5) // 1.4 leases after the claim, 0.6 after the renewal
		require.NoError(t, b.core.Reap(ctx))
		require.Equal(t, StatusRunning, b.load(t, id).Status)
		require.Zero(t, b.jobs(t))
		require.NoError(t, runCtx.Err())

		// Its holder goes silent: a lease later the reaper hands it on.
		done()
		b.clock.add(lease + time.Second)
		require.NoError(t, b.core.Reap(ctx))
		got := b.load(t, id)
		require.Equal(t, StatusQueued, got.Status)
		require.Empty(t, got.LeaseOwner)
		require.True(t, got.Background)
		require.Equal(t, 1, b.jobs(t), "a new queue job executes it")
		require.False(t, h.Lost())
	})
}

func TestRenewalMarksLostAndCancelled(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		b := setup(t, d)
		ctx := context.Background()
		require.NoError(t, b.core.Start(ctx))
		taken, cancelled := b.insert(t, &item{}, StatusQueued), b.insert(t, &item{}, StatusQueued)
		for _, id := range []string{taken, cancelled} {
			_, ok, err := b.items.Claim(ctx, id)
			require.NoError(t, err)
			require.True(t, ok)
		}
		takenCtx, takenH, done1 := b.items.Track(ctx, taken, nil)
		defer done1()
		cancelCtx, cancelH, done2 := b.items.Track(ctx, cancelled, nil)
		defer done2()
		// Another process took one over; a cancel was flagged on the other.
		_, err := d.W.NewUpdate().Model((*item)(nil)).Set("lease_owner = 'elsewhere'").Where("id = ?", taken).Exec(ctx)
		require.NoError(t, err)
		_, err = d.W.NewUpdate().Model((*item)(nil)).Set("cancel_requested = TRUE").Where("id = ?", cancelled).Exec(ctx)
		require.NoError(t, err)

		b.tick(t, "durable_items")
		<-takenCtx.Done()
		<-cancelCtx.Done()
		require.True(t, takenH.Lost())
		require.False(t, takenH.Cancelled())
		require.True(t, cancelH.Cancelled())
		require.False(t, cancelH.Lost())
	})
}

// The renewal is one statement per table and tick, however many items
// this process holds, and none for a table it holds nothing of.
func TestOneRenewalStatementPerTable(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		b := setup(t, d)
		ctx := context.Background()
		others := AddTable(b.core, Table[*other]{Model: (*other)(nil), Name: "durable_others",
			Job: func(id string) river.JobArgs { return itemArgs{ID: id} },
			Load: func(ctx context.Context, id string) (*other, error) {
				it := &other{}
				return it, d.W.NewSelect().Model(it).Where("id = ?", id).Scan(ctx)
			}})
		for range 5 {
			id := b.insert(t, &item{}, StatusQueued)
			_, ok, err := b.items.Claim(ctx, id)
			require.NoError(t, err)
			require.True(t, ok)
			_, _, done := b.items.Track(ctx, id, nil)
			defer done()
		}
		hook := &renewCounter{counts: map[string]int{}}
		d.W.AddQueryHook(hook)
		require.NoError(t, b.core.Start(ctx))
		b.tick(t, "durable_items") // nothing held in the other table yet
		for range 3 {
			id := b.insert(t, &other{}, StatusQueued)
			_, ok, err := others.Claim(ctx, id)
			require.NoError(t, err)
			require.True(t, ok)
			_, _, done := others.Track(ctx, id, nil)
			defer done()
		}
		for range 2 {
			b.tick(t, "durable_items", "durable_others")
		}
		require.Equal(t, map[string]int{"durable_items": 3, "durable_others": 2}, hook.snapshot())
	})
}

// renewCounter counts the renewal statements each table receives.
type renewCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (h *renewCounter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}

func (h *renewCounter) AfterQuery(_ context.Context, ev *bun.QueryEvent) {
	q := ev.Query
	if !strings.HasPrefix(q, "UPDATE") || !strings.Contains(q, "SET heartbeat_at") {
		return
	}
	for _, table := range []string{"durable_items", "durable_others"} {
		if strings.HasPrefix(q, `UPDATE "`+table+`"`) {
			h.mu.Lock()
			h.counts[table]++
			h.mu.Unlock()
		}
	}
}

func (h *renewCounter) snapshot() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]int{}
	for k, v := range h.counts {
		out[k] = v
	}
	return out
}

func TestDeadlines(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		b := setup(t, d)
		ctx := context.Background()
		var expired []string
		tbl := itemsTable(d)
		tbl.Expired = func(_ context.Context, it Item) { expired = append(expired, it.ID) }
		c := b.newCore(Params{})
		items := AddTable(c, tbl)
		past := b.clock.now().Add(-time.Second)
		id := b.insert(t, &item{DeadlineAt: &past}, StatusQueued)
		require.NoError(t, c.Reap(ctx))
		got := b.load(t, id)
		require.Equal(t, StatusFailed, got.Status)
		require.Equal(t, CodeDeadline, got.ErrorCode)
		require.Contains(t, expired, id)
		_, ok, err := items.Claim(ctx, id)
		require.NoError(t, err)
		require.False(t, ok, "a failed item is not claimed")
	})
}

func TestPanicFailsTheItem(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		b := setup(t, d)
		ctx := context.Background()
		id := b.insert(t, &item{}, StatusQueued)
		w := NewWorker(Kind[itemArgs]{
			Work: func(ctx context.Context, job *river.Job[itemArgs]) error {
				if _, ok, err := b.items.Claim(ctx, job.Args.ID); err != nil || !ok {
					return errors.New("not claimed")
				}
				var m map[string]int
				m["boom"]++ // a nil map: the bug
				return nil
			},
			Fail: func(ctx context.Context, job *river.Job[itemArgs], reason string) error {
				_, err := b.items.Fail(ctx, job.Args.ID, CodeInternal, reason)
				return err
			},
		}, slog.New(slog.NewTextHandler(b.logs, nil)))
		err := w.Work(ctx, &river.Job[itemArgs]{JobRow: &rivertype.JobRow{ID: 7, Kind: itemArgs{}.Kind(), Attempt: 1, MaxAttempts: 5},
			Args: itemArgs{ID: id}})
		var cancel *river.JobCancelError
		require.ErrorAs(t, err, &cancel, "the queue does not retry a panic")
		got := b.load(t, id)
		require.Equal(t, StatusFailed, got.Status)
		require.Equal(t, CodeInternal, got.ErrorCode)
		require.Equal(t, PanicReason, got.ErrorMessage)
		require.Empty(t, got.LeaseOwner)
		logs := b.logs.String()
		require.Contains(t, logs, "durable: work panicked")
		require.Contains(t, logs, "assignment to entry in nil map")
		require.Contains(t, logs, "durable.TestPanicFailsTheItem", "the stack names where it panicked")
	})
}

func TestCancel(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		b := setup(t, d)
		ctx := context.Background()
		// Two processes on one bus: A executes the item, B is asked to
		// cancel it.
		bus := events.New(events.NewMemory(0), nil)
		busCtx, stopBus := context.WithCancel(ctx)
		t.Cleanup(stopBus)
		bus.Start(busCtx)
		relayed := make(chan string, 4)
		a := b.newCore(Params{Bus: bus})
		a.onRelay = func(_ events.Type, id string) { relayed <- id }
		aItems := AddTable(a, itemsTable(d))
		bCore := b.newCore(Params{Bus: bus})
		bItems := AddTable(bCore, itemsTable(d))
		require.NoError(t, a.Start(ctx))
		t.Cleanup(func() { require.NoError(t, a.Stop(context.Background())) })

		queued := b.insert(t, &item{}, StatusQueued)
		how, err := bItems.Cancel(ctx, CancelParams{ID: queued, Settle: []string{StatusQueued}})
		require.NoError(t, err)
		require.Equal(t, Settled, how, "nobody executes it: cancelled at once")
		require.Equal(t, StatusCancelled, b.load(t, queued).Status)

		id := b.insert(t, &item{}, StatusQueued)
		_, ok, err := aItems.Claim(ctx, id)
		require.NoError(t, err)
		require.True(t, ok)
		runCtx, h, done := aItems.Track(ctx, id, nil)
		defer done()
		how, err = bItems.Cancel(ctx, CancelParams{ID: id, Settle: []string{StatusQueued}})
		require.NoError(t, err)
		require.Equal(t, Requested, how)
		require.True(t, b.load(t, id).CancelRequested, "flagged for the renewal, should the bus lose it")
		select {
		case <-runCtx.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the relayed cancel did not reach the holder")
		}
		require.True(t, h.Cancelled())
		require.Equal(t, id, <-relayed)

		how, err = aItems.Cancel(ctx, CancelParams{ID: id, Settle: []string{StatusQueued}})
		require.NoError(t, err)
		require.Equal(t, Interrupted, how, "executing here: interrupted at once")
	})
}

func TestStartStop(t *testing.T) {
	t.Parallel()
	b := setup(t, dbtest.Open(t, config.SQLite))
	ctx := context.Background()
	require.NoError(t, b.core.Start(ctx))
	require.Error(t, b.core.Start(ctx), "started twice")
	require.NoError(t, b.core.Stop(ctx))
	// Stopped: the loop takes no more ticks.
	select {
	case b.ticks <- time.Now():
		t.Fatal("the renewal loop still runs after Stop")
	default:
	}
}
