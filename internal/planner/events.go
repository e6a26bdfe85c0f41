package planner

import (
	"cmp"
	"context"
	"time"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/httpx"
	"github.com/pulse-run/pulse/internal/platform/ids"
)

// EventInput creates a calendar event.
type EventInput struct {
	Title        string    `json:"title,omitempty" maxLength:"300"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	AllDay       bool      `json:"all_day,omitempty"`
	Transparency string    `json:"transparency,omitempty" enum:"busy,free" doc:"free events do not block time; default busy"`
	Location     string    `json:"location,omitempty" maxLength:"500" doc:"an event with a location gets travel buffers"`
	Source       string    `json:"source,omitempty" maxLength:"40" doc:"default api; google and microsoft come from calendar sync"`
	ExternalID   string    `json:"external_id,omitempty" maxLength:"300"`
}

// EventPatch changes an event: absent fields stay.
type EventPatch struct {
	Title        httpx.Patch[string]    `json:"title,omitempty"`
	Start        httpx.Patch[time.Time] `json:"start,omitempty"`
	End          httpx.Patch[time.Time] `json:"end,omitempty"`
	AllDay       httpx.Patch[bool]      `json:"all_day,omitempty"`
	Transparency httpx.Patch[string]    `json:"transparency,omitempty"`
	Location     httpx.Patch[string]    `json:"location,omitempty"`
}

const maxEventLength = 31 * 24 * time.Hour

func checkEvent(e *Event) error {
	var fs []apperr.FieldError
	switch d := e.EndAt.Sub(e.StartAt); {
	case d <= 0:
		fs = append(fs, apperr.FieldError{Path: "body.end", Message: "is not after start"})
	case d > maxEventLength:
		fs = append(fs, apperr.FieldError{Path: "body.end", Message: "is more than 31 days after start"})
	}
	if e.Transparency != "busy" && e.Transparency != "free" {
		fs = append(fs, apperr.FieldError{Path: "body.transparency", Message: "must be busy or free"})
	}
	if len(e.Title) > 300 {
		fs = append(fs, apperr.FieldError{Path: "body.title", Message: "must be at most 300 characters"})
	}
	if len(fs) > 0 {
		return &apperr.Error{Code: apperr.Invalid, Message: "the event is not valid", Fields: fs}
	}
	return nil
}

// CreateEvent stores busy time and re-plans.
func (s *Service) CreateEvent(ctx context.Context, in EventInput) (*Event, error) {
	owner, err := writer(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	e := &Event{ID: ids.New(), OwnerID: owner, Title: in.Title, StartAt: in.Start.UTC(), EndAt: in.End.UTC(), AllDay: in.AllDay,
		Transparency: cmp.Or(in.Transparency, "busy"), Location: in.Location, Source: cmp.Or(in.Source, "api"), ExternalID: in.ExternalID,
		CreatedAt: now, UpdatedAt: now}
	if err := checkEvent(e); err != nil {
		return nil, err
	}
	if err := s.store.insertEvent(ctx, e); err != nil {
		return nil, err
	}
	return e, s.touch(ctx, owner)
}

// Event returns one of the caller's events.
func (s *Service) Event(ctx context.Context, id string) (*Event, error) {
	owner, err := reader(ctx)
	if err != nil {
		return nil, err
	}
	return s.store.event(ctx, owner, id)
}

// Events lists the caller's events overlapping a range, by start time.
func (s *Service) Events(ctx context.Context, f EventFilter) ([]Event, string, error) {
	owner, err := reader(ctx)
	if err != nil {
		return nil, "", err
	}
	if f.From != nil && f.To != nil && !f.To.After(*f.From) {
		return nil, "", apperr.InvalidField("query.to", "is not after from")
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	limit := f.Limit
	f.Limit++
	out, err := s.store.events(ctx, owner, f)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		last := out[limit-1]
		next = last.StartAt.UTC().Format(time.RFC3339Nano) + "|" + last.ID
	}
	return out, next, nil
}

// UpdateEvent changes an event and re-plans.
func (s *Service) UpdateEvent(ctx context.Context, id string, p EventPatch) (*Event, error) {
	owner, err := writer(ctx)
	if err != nil {
		return nil, err
	}
	e, err := s.store.event(ctx, owner, id)
	if err != nil {
		return nil, err
	}
	e.Title = p.Title.Or(e.Title)
	e.StartAt = p.Start.Or(e.StartAt).UTC()
	e.EndAt = p.End.Or(e.EndAt).UTC()
	e.AllDay = p.AllDay.Or(e.AllDay)
	e.Transparency = cmp.Or(p.Transparency.Or(e.Transparency), "busy")
	e.Location = p.Location.Or(e.Location)
	e.UpdatedAt = s.now().UTC()
	if err := checkEvent(e); err != nil {
		return nil, err
	}
	if err := s.store.updateEvent(ctx, e); err != nil {
		return nil, err
	}
	return e, s.touch(ctx, owner)
}

// DeleteEvent removes an event and re-plans.
func (s *Service) DeleteEvent(ctx context.Context, id string) error {
	owner, err := writer(ctx)
	if err != nil {
		return err
	}
	if err := s.store.db.DeleteOwned(ctx, db.DeleteOwnedParams{Model: (*Event)(nil), ID: id, OwnerID: owner, What: "event"}); err != nil {
		return err
	}
	return s.touch(ctx, owner)
}
