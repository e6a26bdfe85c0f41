package durable

import (
	"context"
	"time"

	"github.com/uptrace/bun"
)

// Cancelled says how a cancel took hold.
type Cancelled int

const (
	// Interrupted: the item was executing here; its context has ended.
	Interrupted Cancelled = iota + 1
	// Settled: nobody executed it; it is cancelled now.
	Settled
	// Requested: another process holds it; the request was flagged (its
	// renewal reads the flag) and relayed to every process.
	Requested
	// Left: it left the states a cancel applies to meanwhile; the caller
	// reads it again to tell why.
	Left
)

// CancelParams cancels one item.
type CancelParams struct {
	ID string
	// Settle are the statuses in which nobody executes the item, so it
	// ends at once (queued, waiting for an answer...).
	Settle []string
	// Set adds what the feature clears when it ends at once.
	Set func(q *bun.UpdateQuery) *bun.UpdateQuery
}

// Cancel stops an item wherever it is: executing here at once; queued or
// waiting at once; executing in another process within a heartbeat, or at
// once through the bus.
func (l *Leases[T]) Cancel(ctx context.Context, p CancelParams) (Cancelled, error) {
	if l.ctl.Interrupt(p.ID) {
		return Interrupted, nil
	}
	q := l.c.db.W.NewUpdate().Model(l.t.Model).Set("status = ?", StatusCancelled).Set("error_code = ?", CodeCancelled).
		Set("error_message = ?", cancelReason).Set("finished_at = ?", l.c.now().UTC()).Set("lease_owner = ''").
		Where("id = ? AND status IN (?)", p.ID, bun.In(p.Settle))
	if p.Set != nil {
		q = p.Set(q)
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return Settled, nil
	}
	res, err = l.c.db.W.NewUpdate().Model(l.t.Model).Set("cancel_requested = TRUE").
		Where("id = ? AND status = ?", p.ID, StatusRunning).Exec(ctx)
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return Left, nil
	}
	if l.c.bus != nil {
		if err := l.ctl.Relay(ctx, l.c.bus, p.ID); err != nil {
			return 0, err
		}
	}
	return Requested, nil
}

// Interrupt stops an item executing here and reports whether it was; else
// the cancel is remembered for a while, for an item being claimed.
func (l *Leases[T]) Interrupt(id string) bool { return l.ctl.Interrupt(id) }

// AwaitEnd waits briefly for a cancelled item to stop, then answers it as
// it is: load reads it and says whether it has ended.
func AwaitEnd[T any](ctx context.Context, load func(ctx context.Context) (T, bool, error)) (T, error) {
	deadline := time.Now().Add(cancelWait)
	for {
		item, ended, err := load(ctx)
		if err != nil || ended || time.Now().After(deadline) {
			return item, err
		}
		select {
		case <-ctx.Done():
			return item, nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}
