// Package queue runs Pulse's durable job queue: River, on SQLite or
// PostgreSQL, hidden behind one type so features enqueue jobs without caring
// which engine is underneath. Jobs are inserted in the same transaction as
// the data change that causes them (InsertTx), so a job exists if and only
// if its change committed.
package queue

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/logging"
)

// Params configures a Queue.
type Params struct {
	DB           *db.DB
	Workers      *river.Workers // every job kind this process can run
	PeriodicJobs []*river.PeriodicJob
	MaxWorkers   int // concurrent jobs (default 100)
	Logger       *slog.Logger
	// FetchPollInterval overrides how often idle workers look for jobs
	// (tests shorten it; River's default otherwise).
	FetchPollInterval time.Duration
	// FetchCooldown is the least time between two fetches (default 10 ms);
	// lower means faster pickup under load, more queries.
	FetchCooldown time.Duration
}

// client is the engine-independent part of *river.Client[TTx] that Pulse uses.
type client interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Stopped() <-chan struct{}
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	InsertMany(ctx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
	Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func())
	insertTx(ctx context.Context, tx *db.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

type engineClient[TTx any] struct {
	*river.Client[TTx]
	txOf func(*db.Tx) TTx
}

func (c engineClient[TTx]) insertTx(ctx context.Context, tx *db.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return c.InsertTx(ctx, c.txOf(tx), args, opts)
}

// Queue is a River client on the configured engine.
type Queue struct {
	c       client
	log     *slog.Logger
	started atomic.Bool
	metrics *metrics
	// The metrics consumer: ended and waited for by Stop.
	unsubscribe func()
	consumed    chan struct{}
}

// New builds the client; it does not start working jobs until Start.
func New(p Params) (*Queue, error) {
	if p.DB == nil || p.Workers == nil {
		return nil, errors.New("queue: DB and Workers are required")
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler) // nil logs nothing: the caller injects its logger
	}
	cfg := &river.Config{
		Logger:            logging.AtLeast(p.Logger, slog.LevelWarn),
		Workers:           p.Workers,
		PeriodicJobs:      p.PeriodicJobs,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cmp.Or(p.MaxWorkers, 100)}},
		Schema:            p.DB.Schema(),
		FetchPollInterval: p.FetchPollInterval,
		// River's default cooldown (100 ms) caps a busy process at about ten
		// fetches a second, which no worker count makes up for.
		FetchCooldown: cmp.Or(p.FetchCooldown, 10*time.Millisecond),
		JobTimeout:    5 * time.Minute,
	}
	q := &Queue{log: p.Logger, metrics: newMetrics(p.DB)}
	switch p.DB.Engine {
	case config.SQLite:
		rc, err := river.NewClient(riversqlite.New(p.DB.W.DB), cfg)
		if err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
		q.c = engineClient[*sql.Tx]{Client: rc, txOf: (*db.Tx).SQLTx}
	case config.Postgres:
		rc, err := river.NewClient(riverpgxv5.New(p.DB.PgxPool()), cfg)
		if err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
		q.c = engineClient[pgx.Tx]{Client: rc, txOf: (*db.Tx).PgxTx}
	default:
		return nil, fmt.Errorf("queue: unknown engine %q", p.DB.Engine)
	}
	return q, nil
}

// Start begins fetching and working jobs and running periodic jobs.
// Starting a running queue does nothing.
func (q *Queue) Start(ctx context.Context) error {
	if q.started.Load() {
		return nil
	}
	events, cancel := q.c.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled, river.EventKindJobSnoozed)
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		q.metrics.consume(events)
	}()
	if err := q.c.Start(ctx); err != nil {
		cancel()
		<-consumed
		return fmt.Errorf("queue: start: %w", err)
	}
	q.unsubscribe, q.consumed = cancel, consumed
	q.started.Store(true)
	return nil
}

// Running reports whether the queue was started and has not stopped.
func (q *Queue) Running() bool {
	if !q.started.Load() {
		return false
	}
	select {
	case <-q.c.Stopped():
		return false
	default:
		return true
	}
}

// Stop lets running jobs finish until ctx ends, then cancels the rest and
// waits briefly for them to return. Jobs cancelled this way are retried by
// River later, on this or another process.
// It returns once the queue's goroutines have; stopping a queue that is
// not running does nothing.
func (q *Queue) Stop(ctx context.Context) error {
	if !q.started.Load() {
		return nil
	}
	defer q.endMetrics()
	err := q.c.Stop(ctx)
	if err == nil {
		return nil
	}
	q.log.Warn("queue: jobs still running at shutdown deadline; cancelling them", "err", err)
	hard, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return q.c.StopAndCancel(hard)
}

// endMetrics ends the job-event subscription and waits for its consumer.
func (q *Queue) endMetrics() {
	q.started.Store(false)
	q.unsubscribe()
	<-q.consumed
}

// Insert enqueues a job outside any transaction.
func (q *Queue) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return q.c.Insert(ctx, args, opts)
}

// InsertMany enqueues jobs in one round trip.
func (q *Queue) InsertMany(ctx context.Context, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	return q.c.InsertMany(ctx, params)
}

// InsertTx enqueues a job inside tx: it becomes visible to workers only if
// tx commits.
func (q *Queue) InsertTx(ctx context.Context, tx *db.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return q.c.insertTx(ctx, tx, args, opts)
}

// Subscribe exposes River's job events (tests and live job status use it).
func (q *Queue) Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func()) {
	return q.c.Subscribe(kinds...)
}

// RetryDelay is the wait before a job's next attempt after attempt (1 for
// the first): exponential from 1 s, at most 30 s, with half of it jittered
// so jobs that failed together do not retry together.
func RetryDelay(attempt int) time.Duration {
	d := min(time.Second<<min(max(attempt, 1)-1, 5), 30*time.Second)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}
