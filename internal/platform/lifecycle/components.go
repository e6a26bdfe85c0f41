package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Funcs makes a component of two functions; a nil one does nothing.
type Funcs struct {
	OnStart func(ctx context.Context) error
	OnStop  func(ctx context.Context) error
}

// Start implements Component.
func (f Funcs) Start(ctx context.Context) error {
	if f.OnStart == nil {
		return nil
	}
	return f.OnStart(ctx)
}

// Stop implements Component.
func (f Funcs) Stop(ctx context.Context) error {
	if f.OnStop == nil {
		return nil
	}
	return f.OnStop(ctx)
}

// Closer is a component with nothing to start that releases something
// when the process stops (a client's connections, a buffer to flush).
func Closer(close func(ctx context.Context) error) Component { return Funcs{OnStop: close} }

// Loop runs fn in a goroutine from Start until Stop, which cancels fn's
// context and waits for fn to return.
func Loop(fn func(ctx context.Context)) Component {
	return Background(func(ctx context.Context) <-chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			fn(ctx)
		}()
		return done
	})
}

// Background adapts an entry point that starts its own goroutines until
// ctx ends and returns a channel closed once they have returned (a
// subscription that must be in place before Start returns, say).
func Background(start func(ctx context.Context) <-chan struct{}) Component {
	return &background{start: start}
}

type background struct {
	start  func(ctx context.Context) <-chan struct{}
	cancel context.CancelFunc
	done   <-chan struct{}
}

func (b *background) Start(ctx context.Context) error {
	// The work outlives the start call but keeps its values (logger,
	// trace); only Stop ends it.
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.cancel, b.done = cancel, b.start(life)
	return nil
}

func (b *background) Stop(ctx context.Context) error {
	b.cancel()
	return Wait(ctx, b.done)
}

// StopGrace is how long Wait still waits once its context has ended: a
// goroutine told to stop usually returns within microseconds, and a
// deadline spent on an earlier component should not leave it running.
const StopGrace = time.Second

// ErrStillRunning is returned when goroutines outlive their stop.
var ErrStillRunning = errors.New("goroutines still running after stop")

// Wait waits until done is closed, or ctx has ended and StopGrace passed.
func Wait(ctx context.Context, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	select {
	case <-done:
		return nil
	case <-time.After(StopGrace):
		return fmt.Errorf("%w: %w", ErrStillRunning, ctx.Err())
	}
}
