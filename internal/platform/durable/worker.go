package durable

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/riverqueue/river"
)

// Kind is one kind of durable work as the queue sees it: a River job and
// how to work it. Registering it (AddKind) gives it the worker defaults
// every kind shares.
type Kind[A river.JobArgs] struct {
	// Work does one item.
	Work func(ctx context.Context, job *river.Job[A]) error
	// Fail records that the item failed for reason because Work panicked
	// (nil: the queue's job alone records it). It runs after the panic was
	// logged with its stack.
	Fail func(ctx context.Context, job *river.Job[A], reason string) error
	// OwnDeadline lifts the queue's job timeout: the item carries its own
	// deadline, which the reaper enforces.
	OwnDeadline bool
}

// PanicReason is what an item that panicked is failed with: the details
// (value and stack) are in the log, not in what its owner reads.
const PanicReason = "it failed unexpectedly; the server's log has the details"

// Worker is the River worker of a Kind.
type Worker[A river.JobArgs] struct {
	river.WorkerDefaults[A]
	kind Kind[A]
	log  *slog.Logger
}

// NewWorker returns the worker of k; log hears of panics (nil: discarded).
func NewWorker[A river.JobArgs](k Kind[A], log *slog.Logger) *Worker[A] {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker[A]{kind: k, log: log}
}

// AddKind registers k with the core's queue workers (none: nothing).
func AddKind[A river.JobArgs](c *Core, k Kind[A]) {
	if c.workers != nil {
		river.AddWorker(c.workers, NewWorker(k, c.log))
	}
}

// Timeout is River's default unless the item has its own deadline.
func (w *Worker[A]) Timeout(*river.Job[A]) time.Duration {
	if w.kind.OwnDeadline {
		return -1
	}
	return 0
}

// NextRetry is the shared backoff.
func (w *Worker[A]) NextRetry(job *river.Job[A]) time.Time { return NextRetry(job.Attempt) }

// Work runs the kind's Work. A panic is logged with its stack, the item is
// failed with PanicReason, and the queue's job is cancelled: trying again
// would panic again.
func (w *Worker[A]) Work(ctx context.Context, job *river.Job[A]) (err error) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		w.log.ErrorContext(ctx, "durable: work panicked", "kind", job.Kind, "job_id", job.ID,
			"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		var ferr error
		if w.kind.Fail != nil {
			ferr = w.kind.Fail(context.WithoutCancel(ctx), job, PanicReason)
		}
		if ferr != nil {
			w.log.ErrorContext(ctx, "durable: could not fail the item that panicked", "kind", job.Kind, "job_id", job.ID, "err", ferr)
			err = fmt.Errorf("%s: panic: %v (and failing it: %w)", job.Kind, p, ferr)
			return // retried: the item is not failed yet
		}
		err = river.JobCancel(fmt.Errorf("%s: panic: %v", job.Kind, p))
	}()
	return w.kind.Work(ctx, job)
}
