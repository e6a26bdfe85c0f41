package db

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/stdlib"
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
//
// On PostgreSQL the writes of a batch run concurrently and their statements
// are pipelined (see pipeline.go): a batch costs as many round trips as its
// longest write has statements, not as all its writes have together. The
// writes of one batch must therefore not depend on running in order; each
// is independent of the others, as it would be in a transaction of its own.
type Batcher struct {
	d      *DB
	pdb    *bun.DB // PostgreSQL: the handle pipelined writes run bun on
	in     chan *batchItem
	max    int
	mu     sync.RWMutex // Do holds it to queue; Close to stop queueing
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup

	groups, writes, rounds atomic.Int64 // see Stats
	committers             int
}

// BatchStats counts what a Batcher did.
type BatchStats struct {
	Groups int64 // transactions of more than one write that committed
	Writes int64 // writes those held
	Rounds int64 // PostgreSQL: round trips their statements took
}

// Stats reports the groups committed so far.
func (b *Batcher) Stats() BatchStats {
	return BatchStats{Groups: b.groups.Load(), Writes: b.writes.Load(), Rounds: b.rounds.Load()}
}

// committer commits batches on one goroutine (and, on PostgreSQL, its own
// connection).
type committer struct {
	b    *Batcher
	conn *bun.Conn
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
	n := 1
	if d.Engine == config.Postgres {
		b.pdb = newPipeDB()
		// Several committers overlap their groups: while one waits for
		// the server, the next runs its writes. Each holds a connection,
		// so a small pool keeps most for everyone else.
		n = max(2, int(d.pool.Config().MaxConns)/4)
	}
	b.committers = n
	for range n {
		c := &committer{b: b}
		b.wg.Add(1)
		go c.loop()
	}
	return b
}

// inTx runs a batch's transaction, on the committer's own connection on
// PostgreSQL (taken at the first batch, given back on Close).
func (c *committer) inTx(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	d := c.b.d
	if d.Engine != config.Postgres {
		return d.InTx(ctx, fn)
	}
	if c.conn == nil {
		conn, err := d.W.Conn(ctx)
		if err != nil {
			return err
		}
		c.conn = &conn
	}
	err := d.inPgxTxOn(ctx, *c.conn, fn)
	if err != nil && c.conn.PingContext(ctx) != nil {
		// A broken connection: the next batch takes a new one.
		_ = c.conn.Close()
		c.conn = nil
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
	if b.pdb != nil {
		_ = b.pdb.Close()
	}
}

func (c *committer) loop() {
	b := c.b
	defer b.wg.Done()
	defer c.release()
	for {
		var first *batchItem
		select {
		case first = <-b.in:
		case <-b.stop:
			// Drain what was queued before the stop.
			for {
				select {
				case it := <-b.in:
					c.commit([]*batchItem{it})
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
		c.commit(batch)
	}
}

func (c *committer) release() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

func (c *committer) commit(batch []*batchItem) {
	if len(batch) > 1 {
		var err error
		if c.b.pdb != nil {
			err = c.pipelined(batch)
		} else {
			err = c.inTx(context.Background(), func(ctx context.Context, tx *Tx) error {
				for _, it := range batch {
					if err := it.fn(context.WithoutCancel(it.ctx), tx); err != nil {
						return err
					}
				}
				return nil
			})
		}
		if err == nil {
			c.b.groups.Add(1)
			c.b.writes.Add(int64(len(batch)))
			for _, it := range batch {
				it.done <- nil
			}
			return
		}
	}
	for _, it := range batch {
		it.done <- c.inTx(context.WithoutCancel(it.ctx), it.fn)
	}
}

// pipelined commits a batch on PostgreSQL with its writes running
// concurrently and their statements pipelined, in one transaction on the
// committer's connection.
func (c *committer) pipelined(batch []*batchItem) error {
	return c.inTx(context.Background(), func(ctx context.Context, tx *Tx) error {
		var sc *stdlib.Conn
		if err := tx.IDB.(bun.Conn).Raw(func(dc any) error {
			var ok bool
			sc, ok = dc.(*stdlib.Conn)
			if !ok {
				return fmt.Errorf("db: unexpected driver connection %T", dc)
			}
			return nil
		}); err != nil {
			return err
		}
		p := newPipe(sc, len(batch))
		var wg sync.WaitGroup
		for _, it := range batch {
			w := &pipeWrite{p: p}
			wg.Go(func() {
				wctx := context.WithValue(context.WithoutCancel(it.ctx), pipeKey{}, w)
				// A database/sql connection of its own: database/sql
				// locks the connection a result came from to read it, and
				// a shared one may be waiting in the pipe for a round.
				conn, err := c.b.pdb.Conn(wctx)
				if err == nil {
					err = it.fn(wctx, &Tx{IDB: conn, engine: config.Postgres, pgxTx: tx.pgxTx, pw: w})
					_ = conn.Close()
				}
				w.end(err)
			})
		}
		wg.Wait()
		c.b.rounds.Add(int64(p.rounds))
		return p.err
	})
}
