package planner

import (
	"context"
	"time"

	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/durable"
	"github.com/pulse-run/pulse/internal/platform/queue"
)

// Service holds the planner's rules.
type Service struct {
	store    *store
	queue    *queue.Queue
	now      func() time.Time
	userZone func(ctx context.Context) (string, error)
	debounce time.Duration
	effort   int
}

// Params builds a Service.
type Params struct {
	DB    *db.DB
	Queue *queue.Queue // nil: no background re-plans
	Now   func() time.Time
	// UserZone gives the signed-in user's profile time zone, the default
	// for preferences never saved.
	UserZone func(ctx context.Context) (string, error)
	// Debounce is how long after the last change a background re-plan
	// waits, so a burst of edits costs one plan.
	Debounce time.Duration
	// Effort bounds the engine's search (schedule.Params.Effort).
	Effort int
	// Durable is the process's durable core, which works the re-plans
	// (nil: none are worked here).
	Durable *durable.Core
}

// New builds the service.
func New(p Params) *Service {
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Debounce == 0 {
		p.Debounce = 2 * time.Second
	}
	s := &Service{store: &store{db: p.DB}, queue: p.Queue, now: p.Now, userZone: p.UserZone, debounce: p.Debounce, effort: p.Effort}
	if p.Durable != nil {
		s.addKinds(p.Durable)
	}
	return s
}

// reader and writer are the caller's id, if their credentials may read
// (or change) their planner.
func reader(ctx context.Context) (string, error) {
	p, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return "", err
	}
	return p.UserID, nil
}

func writer(ctx context.Context) (string, error) {
	p, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return "", err
	}
	return p.UserID, nil
}

// preferences are the owner's saved preferences, or the defaults in the
// profile's zone.
func (s *Service) preferences(ctx context.Context, ownerID string) (*Preferences, error) {
	p, err := s.store.plan(ctx, ownerID)
	if err != nil {
		return nil, err
	}
	if p.Preferences.V != nil {
		return p.Preferences.V, nil
	}
	zone := ""
	if s.userZone != nil {
		zone, _ = s.userZone(ctx) // a missing profile zone falls back to UTC
	}
	return defaultPreferences(zone), nil
}

// Preferences returns the caller's planning preferences.
func (s *Service) Preferences(ctx context.Context) (*Preferences, error) {
	owner, err := reader(ctx)
	if err != nil {
		return nil, err
	}
	return s.preferences(ctx, owner)
}

// SetPreferences validates and saves preferences, then re-plans.
func (s *Service) SetPreferences(ctx context.Context, p *Preferences) (*Preferences, error) {
	owner, err := writer(ctx)
	if err != nil {
		return nil, err
	}
	if p.DaysOff == nil {
		p.DaysOff = []string{}
	}
	if _, err := p.compile(); err != nil {
		return nil, err
	}
	if err := s.store.savePreferences(ctx, owner, p, s.now()); err != nil {
		return nil, err
	}
	return p, s.touch(ctx, owner)
}

// touch records that the plan's input changed and, when the user wants
// it, schedules a background re-plan after the debounce.
func (s *Service) touch(ctx context.Context, ownerID string) error {
	now := s.now()
	if err := s.store.changed(ctx, ownerID, now); err != nil {
		return err
	}
	if s.queue == nil {
		return nil
	}
	prefs, err := s.preferences(ctx, ownerID)
	if err != nil || !prefs.AutoReplan {
		return err
	}
	return s.enqueueReplan(ctx, ownerID, now.Add(s.debounce))
}
