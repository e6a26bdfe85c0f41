package durable

import (
	"context"
	"errors"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/db"
)

// reap is one reaper round over this table.
func (l *Leases[T]) reap(ctx context.Context) error {
	if err := l.expireDeadlines(ctx); err != nil {
		return fmt.Errorf("durable: %s deadlines: %w", l.t.Name, err)
	}
	if err := l.requeueOrphans(ctx); err != nil {
		return fmt.Errorf("durable: %s orphans: %w", l.t.Name, err)
	}
	var errs []error
	if l.t.Expire != nil {
		if err := l.expireInterrupts(ctx); err != nil {
			errs = append(errs, fmt.Errorf("durable: %s interrupts: %w", l.t.Name, err))
		}
	}
	if l.t.Upkeep != nil {
		if err := l.t.Upkeep(ctx); err != nil {
			errs = append(errs, fmt.Errorf("durable: %s upkeep: %w", l.t.Name, err))
		}
	}
	return errors.Join(errs...)
}

// expireDeadlines fails items past their deadline, wherever they are: a
// holder still on one loses its lease with the status change. An executor
// that enforces its own deadline gets a lease more, to record it itself.
func (l *Leases[T]) expireDeadlines(ctx context.Context) error {
	now := l.c.now().UTC()
	cut := now
	if l.t.OwnDeadline {
		cut = now.Add(-l.c.lease)
	}
	var late []Item
	err := l.c.db.W.NewUpdate().Model(l.t.Model).Set("status = ?", StatusFailed).Set("error_code = ?", CodeDeadline).
		Set("error_message = ?", deadlineReason).Set("finished_at = ?", now).Set("lease_owner = ''").
		Where("status IN (?) AND deadline_at < ?", bun.In([]string{StatusQueued, StatusRunning}), cut).
		Returning("id, owner_id").Scan(ctx, &late)
	if err != nil && !db.IsNoRows(err) {
		return err
	}
	if l.t.Expired != nil {
		for _, it := range late {
			l.t.Expired(ctx, it)
		}
	}
	return nil
}

// requeueOrphans gives items whose holder went silent for a lease to a
// new queue job, in the transaction that takes them back.
func (l *Leases[T]) requeueOrphans(ctx context.Context) error {
	if l.c.queue == nil {
		return nil
	}
	now := l.c.now().UTC()
	var orphans []Item
	err := l.c.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		orphans = nil
		err := tx.NewUpdate().Model(l.t.Model).Set("status = ?", StatusQueued).Set("lease_owner = ''").Set("background = TRUE").
			Where("status = ? AND (heartbeat_at IS NULL OR heartbeat_at < ?)", StatusRunning, now.Add(-l.c.lease)).
			Returning("id, owner_id").Scan(ctx, &orphans)
		if err != nil && !db.IsNoRows(err) {
			return err
		}
		for _, o := range orphans {
			if _, err := l.c.queue.InsertTx(ctx, tx, l.t.Job(o.ID), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if l.t.Requeued != nil {
		for _, it := range orphans {
			l.t.Requeued(ctx, it)
		}
	}
	return nil
}

// expireInterrupts hands the items whose interrupt nobody answered in time
// to the table's Expire, which applies its policy.
func (l *Leases[T]) expireInterrupts(ctx context.Context) error {
	var due []string
	if err := l.c.db.W.NewSelect().Model(l.t.Model).Column("id").
		Where("status = ? AND interrupt_until < ?", l.t.Interrupted, l.c.now().UTC()).Limit(1000).Scan(ctx, &due); err != nil {
		return err
	}
	for _, id := range due {
		item, err := l.t.Load(ctx, id)
		if err != nil {
			return err
		}
		if err := l.t.Expire(ctx, item); err != nil {
			return err
		}
	}
	return nil
}
