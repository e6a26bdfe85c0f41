package durable

import (
	"time"

	"github.com/riverqueue/river"

	"github.com/pulse-run/pulse/internal/platform/queue"
)

// The worker defaults of every kind, in one place.
const (
	// MaxAttempts bounds how often an item is tried after failures.
	MaxAttempts = 5
	// DefaultLease is how long a silent holder keeps an item when the
	// configuration says nothing (PULSE_RUN_LEASE).
	DefaultLease = 15 * time.Second
	// DefaultTimeout is an item's deadline from its start when its kind
	// says nothing (PULSE_RUN_TIMEOUT).
	DefaultTimeout = 30 * time.Minute
	// cancelWait is how long a cancel waits for the item to stop before
	// answering with it as it is.
	cancelWait = 3 * time.Second
)

// InsertOpts are the queue options of every durable job: bounded attempts.
func InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: MaxAttempts} }

// NextRetry is exponential backoff from 1 s to 30 s, with jitter.
func NextRetry(attempt int) time.Time { return time.Now().Add(queue.RetryDelay(attempt)) }
