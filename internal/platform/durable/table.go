package durable

import (
	"context"
	"github.com/pulse-run/pulse/internal/platform/events"
	"time"

	"github.com/riverqueue/river"
	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/runctl"
)

// The statuses the core reads and writes; a feature's own statuses (waiting
// for approval, interrupted, pending) are its own business.
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// Error codes the core gives items it ends.
const (
	CodeDeadline   = "deadline_exceeded"
	CodeCancelled  = "cancelled"
	CodeInternal   = "internal"
	deadlineReason = "the run did not finish before its deadline"
	cancelReason   = "cancelled by the user"
)

// Table describes a feature's table of durable items. A leased table (the
// default) has the columns id, owner_id, status, attempt, started_at,
// finished_at, lease_owner, heartbeat_at, deadline_at, cancel_requested,
// background, error_code and error_message; the core holds the SQL of
// claiming, renewing, reaping, failing and cancelling them.
type Table[T any] struct {
	// Model is the table's bun model, a nil pointer to its row type.
	Model any
	// Name names the table in hooks and logs.
	Name string
	// Load reads an item the core claimed (not found is an error).
	Load func(ctx context.Context, id string) (T, error)
	// Job is the queue job that executes an item (re-queued by the reaper).
	Job func(id string) river.JobArgs
	// CancelAction names the control message that relays a cancel of this
	// kind to the process holding the item ("" : the table's name).
	CancelAction events.Type

	// Unleased: the queue's job alone holds the item (no lease columns);
	// a claim counts the attempt in AttemptColumn. Such a table is not
	// renewed, reaped or cancelled.
	Unleased bool
	// AttemptColumn counts claims (default "attempt").
	AttemptColumn string
	// Write commits fn (nil: in a transaction of its own), so a feature
	// whose writes share commits (a batcher) claims through them too.
	Write func(ctx context.Context, fn func(ctx context.Context, tx *db.Tx) error) error
	// ClaimSet adds what a claim sets besides the lease (a deadline).
	ClaimSet func(q *bun.UpdateQuery, now time.Time) *bun.UpdateQuery
	// OwnDeadline: the executor stops the item at its deadline itself (see
	// Track) and records why, so the reaper gives it a lease more.
	OwnDeadline bool

	// Requeued and Expired hear of items the reaper handed on or failed.
	Requeued func(ctx context.Context, it Item)
	Expired  func(ctx context.Context, it Item)
	// Interrupted is the status of items that wait for an answer until
	// interrupt_until; Expire settles one nobody answered in time.
	Interrupted string
	Expire      func(ctx context.Context, item T) error
	// Upkeep runs with each reaper round (pruning old records).
	Upkeep func(ctx context.Context) error
}

// Item names a stored item and its owner.
type Item struct {
	ID      string `bun:"id"`
	OwnerID string `bun:"owner_id"`
}

// Leases is a registered table: how a feature claims, holds, ends and
// cancels its items.
type Leases[T any] struct {
	c   *Core
	t   Table[T]
	ctl *runctl.Registry
}

// AddTable registers a table with the core: its leases are renewed, its
// cancels relayed, and the reaper looks after it.
func AddTable[T any](c *Core, t Table[T]) *Leases[T] {
	if t.AttemptColumn == "" {
		t.AttemptColumn = "attempt"
	}
	if t.CancelAction == "" {
		t.CancelAction = events.Type(t.Name)
	}
	if t.Write == nil {
		t.Write = func(ctx context.Context, fn func(ctx context.Context, tx *db.Tx) error) error {
			return c.db.InTx(context.WithoutCancel(ctx), fn)
		}
	}
	l := &Leases[T]{c: c, t: t, ctl: runctl.New(t.CancelAction)}
	if !t.Unleased {
		c.mu.Lock()
		c.tables = append(c.tables, l)
		c.actions[t.CancelAction] = l.ctl
		c.mu.Unlock()
	}
	return l
}

func (l *Leases[T]) table() string { return l.t.Name }

// Instance is the lease owner name of this process.
func (l *Leases[T]) Instance() string { return Instance() }

// Lease is how long a silent holder keeps an item.
func (l *Leases[T]) Lease() time.Duration { return l.c.lease }

// Claim takes an item for this process: a queued one, or a running one
// whose holder went silent for a lease. ok is false when there is nothing
// to do here (it ended, was cancelled, or a live process holds it).
func (l *Leases[T]) Claim(ctx context.Context, id string) (item T, ok bool, err error) {
	now := l.c.now().UTC()
	var n int64
	err = l.t.Write(ctx, func(ctx context.Context, tx *db.Tx) error {
		q := tx.NewUpdate().Model(l.t.Model).Set("status = ?", StatusRunning).
			Set("? = ? + 1", bun.Ident(l.t.AttemptColumn), bun.Ident(l.t.AttemptColumn)).
			Set("started_at = COALESCE(started_at, ?)", now).Where("id = ?", id)
		if l.t.Unleased {
			q = q.Where("status IN (?)", bun.In([]string{StatusQueued, StatusRunning}))
		} else {
			q = q.Set("lease_owner = ?", Instance()).Set("heartbeat_at = ?", now).
				WhereGroup(" AND ", func(q *bun.UpdateQuery) *bun.UpdateQuery {
					return q.Where("status = ?", StatusQueued).
						WhereOr("status = ? AND (heartbeat_at IS NULL OR heartbeat_at < ?)", StatusRunning, now.Add(-l.c.lease))
				})
		}
		if l.t.ClaimSet != nil {
			q = l.t.ClaimSet(q, now)
		}
		res, err := q.Exec(ctx)
		if err == nil {
			n, _ = res.RowsAffected()
		}
		return err
	})
	if err != nil || n != 1 {
		return item, false, err
	}
	if item, err = l.t.Load(ctx, id); err != nil {
		return item, false, err
	}
	return item, true, nil
}

// Track registers an item as executing here, under its lease: the renewal
// keeps it, a cancel from anywhere ends ctx (h.Cancelled), and so does
// losing the lease to another process (h.Lost). A deadline, when given,
// ends ctx too. done unregisters it.
func (l *Leases[T]) Track(ctx context.Context, id string, deadline *time.Time) (_ context.Context, h *runctl.Handle, done func()) {
	ctx, h, untrack := l.ctl.Track(ctx, id)
	if deadline == nil {
		return ctx, h, untrack
	}
	ctx, stop := context.WithDeadline(ctx, *deadline)
	return ctx, h, func() {
		stop()
		untrack()
	}
}

// renew is the one renewal statement of this table per tick: it keeps
// every item this process holds, stops those whose cancel was requested
// through the database, and marks lost those another process took over.
func (l *Leases[T]) renew(ctx context.Context) {
	held := l.ctl.Executing()
	if len(held) == 0 {
		return
	}
	var rows []struct {
		ID              string `bun:"id"`
		CancelRequested bool   `bun:"cancel_requested"`
	}
	err := l.c.db.W.NewUpdate().Model(l.t.Model).Set("heartbeat_at = ?", l.c.now().UTC()).
		Where("lease_owner = ? AND status = ?", Instance(), StatusRunning).Returning("id, cancel_requested").Scan(ctx, &rows)
	if l.c.onRenew != nil {
		l.c.onRenew(l.t.Name)
	}
	if err != nil && !db.IsNoRows(err) {
		return // a missed beat is not fatal: the lease has room for several
	}
	for _, r := range rows {
		if h := held[r.ID]; h != nil && r.CancelRequested {
			h.Cancel()
		}
		delete(held, r.ID)
	}
	for _, h := range held {
		// Tracked here, but no longer ours in the database.
		h.Lose()
	}
}

// Hold makes an update of an item take its lease for this process: a
// feature's own claim of an item it continues in a request (an answer, an
// approval decided there).
func (l *Leases[T]) Hold(q *bun.UpdateQuery) *bun.UpdateQuery {
	return q.Set("status = ?", StatusRunning).Set("lease_owner = ?", Instance()).Set("heartbeat_at = ?", l.c.now().UTC())
}

// Where narrows q to the item id while this process holds it.
func (l *Leases[T]) Where(q *bun.UpdateQuery, id string) *bun.UpdateQuery {
	return q.Where("id = ? AND lease_owner = ?", id, Instance())
}

// RequeueParams hands an item this process holds back to the queue.
type RequeueParams struct {
	ID string
	// Set adds what the feature records with it (why it was re-queued).
	Set func(q *bun.UpdateQuery) *bun.UpdateQuery
	// Enqueue also inserts the queue job (false: the current job's retry
	// will claim it again).
	Enqueue bool
}

// Requeue hands an item this process holds back to the queue; ok is false
// when it no longer held it.
func (l *Leases[T]) Requeue(ctx context.Context, p RequeueParams) (ok bool, err error) {
	ctx = context.WithoutCancel(ctx)
	err = l.c.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		q := l.Where(tx.NewUpdate().Model(l.t.Model), p.ID).Set("status = ?", StatusQueued).Set("lease_owner = ''")
		if p.Set != nil {
			q = p.Set(q)
		}
		res, err := q.Exec(ctx)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		ok = true
		if !p.Enqueue || l.c.queue == nil {
			return nil
		}
		_, err = l.c.queue.InsertTx(ctx, tx, l.t.Job(p.ID), nil)
		return err
	})
	return ok, err
}

// Fail ends an item this process holds as failed with an error code and
// reason (a leased table's); ok is false when it no longer held it.
func (l *Leases[T]) Fail(ctx context.Context, id, code, reason string) (ok bool, err error) {
	q := l.Where(l.c.db.W.NewUpdate().Model(l.t.Model), id).Set("status = ?", StatusFailed).Set("error_code = ?", code).
		Set("error_message = ?", reason).Set("finished_at = ?", l.c.now().UTC()).Set("lease_owner = ''")
	res, err := q.Exec(context.WithoutCancel(ctx))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
