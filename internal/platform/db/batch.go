package db

import (
	"context"
	"sync"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/config"
)

// Batcher commits many small writes together (group commit). A write
// waits for the transaction that holds it to commit, so it is as durable
// as its own transaction would be, but a thousand concurrent writers pay
// for a few commits instead of a thousand. While one batch commits, the
// next gathers whatever arrives.
//
// A write must only touch the database (it may run twice): when any write
// of a batch fails, the batch rolls back and each of its writes is retried
// in a transaction of its own, so one failure reaches only its caller.
type Batcher struct {
	d      *DB
	in     chan *batchItem
	max    int
	mu     sync.RWMutex // Do holds it to queue; Close to stop queueing
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup
	conn   *bun.Conn // PostgreSQL: the committer's own; only its goroutine uses it
}

type batchItem struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *Tx) error
	done chan error
}

// NewBatcher starts the committer. On PostgreSQL it holds a connection of
// its own: waiting in the pool behind thousands of readers would make every
// writer wait with it.
func NewBatcher(d *DB) *Batcher {
	b := &Batcher{d: d, in: make(chan *batchItem, 4096), max: 512, stop: make(chan struct{})}
	b.wg.Add(1)
	go b.loop()
	return b
}

// inTx runs a batch's transaction, on the committer's own connection on
// PostgreSQL (taken at the first batch, given back on Close).
func (b *Batcher) inTx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	if b.d.Engine != config.Postgres {
		return b.d.InTx(ctx, fn)
	}
	if b.conn == nil {
		c, err := b.d.W.Conn(ctx)
		if err != nil {
			return err
		}
		b.conn = &c
	}
	err := b.d.inPgxTxOn(ctx, *b.conn, fn)
	if err != nil && b.conn.PingContext(ctx) != nil {
		// A broken connection: the next batch takes a new one.
		_ = b.conn.Close()
		b.conn = nil
	}
	return err
}

// Do runs fn in a shared transaction and returns once it committed (or
// with fn's error).
func (b *Batcher) Do(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	it := &batchItem{ctx: ctx, fn: fn, done: make(chan error, 1)}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return b.d.InTx(ctx, fn)
	}
	select {
	case b.in <- it:
		b.mu.RUnlock()
	case <-ctx.Done():
		b.mu.RUnlock()
		return ctx.Err()
	}
	// Once queued, the write is waited for even if ctx ends: the caller
	// must know whether it happened.
	return <-it.done
}

// Close stops the committers after the queued writes.
func (b *Batcher) Close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.stop) // after every write queued so far: they are drained
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *Batcher) loop() {
	defer b.wg.Done()
	defer b.release()
	for {
		var first *batchItem
		select {
		case first = <-b.in:
		case <-b.stop:
			// Drain what was queued before the stop.
			for {
				select {
				case it := <-b.in:
					b.commit([]*batchItem{it})
				default:
					return
				}
			}
		}
		batch := []*batchItem{first}
	gather:
		for len(batch) < b.max {
			select {
			case it := <-b.in:
				batch = append(batch, it)
			default:
				break gather
			}
		}
		b.commit(batch)
	}
}

func (b *Batcher) release() {
	if b.conn != nil {
		_ = b.conn.Close()
		b.conn = nil
	}
}

func (b *Batcher) commit(batch []*batchItem) {
	if len(batch) > 1 {
		err := b.inTx(context.Background(), func(ctx context.Context, tx *Tx) error {
			for _, it := range batch {
				if err := it.fn(context.WithoutCancel(it.ctx), tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			for _, it := range batch {
				it.done <- nil
			}
			return
		}
	}
	for _, it := range batch {
		it.done <- b.inTx(context.WithoutCancel(it.ctx), it.fn)
	}
}
