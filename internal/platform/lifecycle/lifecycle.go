// Package lifecycle starts and stops the long-lived parts of a process in
// order. Each part is a Component (River's start/stop services: Start
// returns once it runs, Stop returns once every goroutine it started has
// returned). A Group holds them in dependency order: Start goes down the
// list, Stop comes back up it, so a part is stopped only after everything
// that uses it. Each component says which roles (config.Role) it runs in,
// which is how one binary is split into api and worker processes.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/pulse-run/pulse/internal/platform/config"
)

// Component is a long-lived part of the process.
type Component interface {
	// Start makes it run. ctx bounds the start only: a component that
	// keeps working derives its own context (context.WithoutCancel) and
	// ends it in Stop.
	Start(ctx context.Context) error
	// Stop ends it and waits for its goroutines, until ctx ends. It is
	// only called on a started component, once.
	Stop(ctx context.Context) error
}

type entry struct {
	name    string
	c       Component
	roles   []config.Role // empty: every role
	started bool
}

// Group is an ordered list of components.
type Group struct {
	role config.Role
	log  *slog.Logger

	mu      sync.Mutex
	entries []*entry
}

// New returns an empty group for a process of role; log hears of each
// start and stop.
func New(role config.Role, log *slog.Logger) *Group {
	if role == "" {
		role = config.RoleAll
	}
	return &Group{role: role, log: log}
}

// Add appends a component. roles are the split roles it runs in (RoleAPI,
// RoleWorker); none means every role. A RoleAll process runs every
// component.
func (g *Group) Add(name string, c Component, roles ...config.Role) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.entries = append(g.entries, &entry{name: name, c: c, roles: roles})
}

func (g *Group) runs(e *entry) bool {
	return len(e.roles) == 0 || g.role == config.RoleAll || slices.Contains(e.roles, g.role)
}

// Names lists the components this process's role runs, in start order.
func (g *Group) Names() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, e := range g.entries {
		if g.runs(e) {
			out = append(out, e.name)
		}
	}
	return out
}

// Start starts, in order, every component of the role not yet started.
// When one fails, those this call started are stopped again (in reverse)
// and the error names the component.
func (g *Group) Start(ctx context.Context) error {
	return g.start(ctx, func(*entry) bool { return true })
}

// StartBefore is Start for the components listed before name only (the
// app starts its background parts without its listeners in tests).
func (g *Group) StartBefore(ctx context.Context, name string) error {
	before := true
	return g.start(ctx, func(e *entry) bool {
		if e.name == name {
			before = false
		}
		return before
	})
}

// StartOne starts the named component if it is not running yet, out of
// order; Stop still stops it in its place in the list.
func (g *Group) StartOne(ctx context.Context, name string) error {
	return g.start(ctx, func(e *entry) bool { return e.name == name })
}

func (g *Group) start(ctx context.Context, want func(*entry) bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var mine []*entry
	for _, e := range g.entries {
		if e.started || !g.runs(e) || !want(e) {
			continue
		}
		if err := e.c.Start(ctx); err != nil {
			slices.Reverse(mine)
			stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			for _, m := range mine {
				g.stopOne(stop, m)
			}
			return fmt.Errorf("start %s: %w", e.name, err)
		}
		e.started = true
		mine = append(mine, e)
		g.log.Debug("started", "component", e.name)
	}
	return nil
}

// Stop stops every started component in reverse list order, each once,
// all of them even when some fail, and returns their errors joined.
func (g *Group) Stop(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	for _, e := range slices.Backward(g.entries) {
		if e.started {
			if err := g.stopOne(ctx, e); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (g *Group) stopOne(ctx context.Context, e *entry) error {
	e.started = false
	start := time.Now()
	err := e.c.Stop(ctx)
	if err != nil {
		err = fmt.Errorf("stop %s: %w", e.name, err)
		g.log.Warn("component did not stop cleanly", "component", e.name, "err", err)
		return err
	}
	g.log.Debug("stopped", "component", e.name, "ms", time.Since(start).Milliseconds())
	return nil
}
