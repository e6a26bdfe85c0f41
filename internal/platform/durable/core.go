package durable

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/runctl"
)

// Enqueuer puts a job on the queue inside a transaction (the queue
// implements it), so an item and its job commit together.
type Enqueuer interface {
	InsertTx(ctx context.Context, tx *db.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Params builds a Core.
type Params struct {
	DB *db.DB
	// Queue re-queues items whose holder vanished (nil: nothing is
	// re-queued; there is no background work).
	Queue Enqueuer
	// Bus relays cancels to the process holding an item (nil: a cancel
	// reaches this process only).
	Bus *events.Bus
	// Workers is where kinds register their queue workers (nil: they are
	// not registered; this process works no jobs).
	Workers *river.Workers
	// Lease is how long a silent holder keeps an item (PULSE_RUN_LEASE);
	// leases are renewed every fifth of it.
	Lease  time.Duration
	Now    func() time.Time
	Logger *slog.Logger
}

// Core is the durable-execution core of one process. Start begins renewing
// leases and following relayed cancels; Stop ends both and waits for them.
type Core struct {
	db      *db.DB
	queue   Enqueuer
	bus     *events.Bus
	workers *river.Workers
	lease   time.Duration
	now     func() time.Time
	log     *slog.Logger

	mu      sync.Mutex
	tables  []leased                         // every table of leased items, for renewal and the reaper
	actions map[events.Type]*runctl.Registry // cancel action -> the items of that kind executing here
	stop    context.CancelFunc
	wg      sync.WaitGroup

	// hooks for tests (set before Start)
	onRenew func(table string)                  // after each renewal statement
	onRelay func(action events.Type, id string) // after each relayed cancel was applied
	tick    func() <-chan time.Time             // replaces the renewal ticker
}

// leased is what the core needs of a table, whatever its row type.
type leased interface {
	table() string
	renew(ctx context.Context)
	reap(ctx context.Context) error
}

// New returns a core; nothing runs until Start.
func New(p Params) *Core {
	if p.Lease <= 0 {
		p.Lease = DefaultLease
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Core{db: p.DB, queue: p.Queue, bus: p.Bus, workers: p.Workers, lease: p.Lease, now: p.Now, log: p.Logger,
		actions: map[events.Type]*runctl.Registry{}}
	if c.workers != nil {
		river.AddWorker(c.workers, NewWorker(Kind[ReapArgs]{Work: func(ctx context.Context, _ *river.Job[ReapArgs]) error {
			return c.Reap(ctx)
		}}, c.log))
	}
	return c
}

// Instance is the name this process holds leases under.
func (c *Core) Instance() string { return Instance() }

// Lease is how long a silent holder keeps an item.
func (c *Core) Lease() time.Duration { return c.lease }

// Start renews the leases of what this process executes, every fifth of
// the lease, and applies cancels other processes relay, until Stop.
func (c *Core) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop != nil {
		return errors.New("durable: started twice")
	}
	ctx, c.stop = context.WithCancel(context.WithoutCancel(ctx))
	c.wg.Add(1)
	go c.renewLoop(ctx)
	if c.bus != nil {
		sub := c.bus.Subscribe([]string{events.ControlTopic}, 1024)
		c.wg.Add(1)
		go c.relayLoop(ctx, sub)
	}
	return nil
}

// Stop ends what Start began and waits for it (or for ctx). Items still
// executing keep running; their leases lapse and the reaper hands them on.
func (c *Core) Stop(ctx context.Context) error {
	c.mu.Lock()
	stop := c.stop
	c.mu.Unlock()
	if stop == nil {
		return nil
	}
	stop()
	done := make(chan struct{})
	go func() {
		c.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Core) renewLoop(ctx context.Context) {
	defer c.wg.Done()
	tick := c.tick
	if tick == nil {
		t := time.NewTicker(c.lease / 5)
		defer t.Stop()
		tick = func() <-chan time.Time { return t.C }
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick():
		}
		c.mu.Lock()
		tables := append([]leased(nil), c.tables...)
		c.mu.Unlock()
		for _, t := range tables {
			t.renew(ctx)
		}
	}
}

func (c *Core) relayLoop(ctx context.Context, sub *events.Sub) {
	defer c.wg.Done()
	runctl.Follow(ctx, sub, func(action events.Type, id string) {
		c.mu.Lock()
		reg := c.actions[action]
		c.mu.Unlock()
		if reg != nil {
			reg.Interrupt(id)
		}
		if c.onRelay != nil {
			c.onRelay(action, id)
		}
	})
}

// Reap runs the reaper over every table: items whose holder went silent
// go back to the queue, items past their deadline fail, interrupts nobody
// answered in time are settled, and each table's own upkeep runs. A
// periodic job (PeriodicJobs) calls it.
func (c *Core) Reap(ctx context.Context) error {
	c.mu.Lock()
	tables := append([]leased(nil), c.tables...)
	c.mu.Unlock()
	var errs []error
	for _, t := range tables {
		if err := t.reap(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ReapArgs is the periodic job that runs the reaper.
type ReapArgs struct{}

// Kind implements river.JobArgs.
func (ReapArgs) Kind() string { return "durable_reaper" }

// InsertOpts keeps one reaper job at a time: the next period runs again.
func (ReapArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByPeriod: time.Second}}
}

// PeriodicJobs are the core's periodic jobs for the queue: the reaper,
// every third of the lease (a vanished holder's item is picked up within
// about a lease and a third), and once at start, after a crash.
func PeriodicJobs(lease time.Duration) []*river.PeriodicJob {
	if lease <= 0 {
		lease = DefaultLease
	}
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(lease/3), func() (river.JobArgs, *river.InsertOpts) {
		return ReapArgs{}, nil
	}, &river.PeriodicJobOpts{ID: "durable_reaper", RunOnStart: true})}
}
