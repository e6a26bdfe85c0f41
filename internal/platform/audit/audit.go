// Package audit keeps the security audit log: who did what to whom, from
// where, and whether it worked. Features record events; admins read them.
// Events are append-only.
package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/platform/reqmeta"
)

// Outcomes.
const (
	Success = "success"
	Failure = "failure"
)

// Event is one audit record.
type Event struct {
	bun.BaseModel `bun:"table:audit_events"`

	ID        string         `bun:"id,pk" json:"id"`
	CreatedAt time.Time      `bun:"created_at,notnull" json:"created_at"`
	Action    string         `bun:"action,notnull" json:"action" doc:"e.g. auth.login, auth.refresh_reused, api_key.create"`
	Outcome   string         `bun:"outcome,notnull" json:"outcome" enum:"success,failure"`
	ActorID   string         `bun:"actor_id,notnull" json:"actor_id" doc:"user who acted; empty when unknown (a failed login)"`
	SubjectID string         `bun:"subject_id,notnull" json:"subject_id" doc:"user the action concerns"`
	IP        string         `bun:"ip,notnull" json:"ip"`
	UserAgent string         `bun:"user_agent,notnull" json:"user_agent"`
	Details   map[string]any `bun:"details,type:jsonb,notnull" json:"details"`
}

// Log writes and reads events.
type Log struct{ db *db.DB }

// New returns the audit log.
func New(d *db.DB) *Log { return &Log{db: d} }

func (l *Log) prepare(ctx context.Context, e *Event) {
	e.ID = ids.New()
	e.CreatedAt = time.Now().UTC()
	if e.Outcome == "" {
		e.Outcome = Success
	}
	c := reqmeta.From(ctx)
	if e.IP == "" {
		e.IP = c.IP
	}
	if e.UserAgent == "" {
		e.UserAgent = c.UserAgent
	}
	if e.Details == nil {
		e.Details = map[string]any{}
	}
}

// Record appends an event outside any transaction. IP and user agent come
// from the request context when not set.
func (l *Log) Record(ctx context.Context, e Event) error {
	return l.RecordTx(ctx, l.db.W, e)
}

// RecordTx appends an event in tx, so it commits with the change it describes.
func (l *Log) RecordTx(ctx context.Context, tx bun.IDB, e Event) error {
	l.prepare(ctx, &e)
	if _, err := tx.NewInsert().Model(&e).Exec(ctx); err != nil {
		return fmt.Errorf("audit: record %s: %w", e.Action, err)
	}
	return nil
}

// Filter selects events; zero fields match everything. Before is a cursor:
// the id of the last event of the previous page.
type Filter struct {
	Action    string
	ActorID   string
	SubjectID string
	Outcome   string
	Since     time.Time
	Until     time.Time
	Before    string
	Limit     int
}

// List returns events newest first, and the cursor for the next page ("" at
// the end).
func (l *Log) List(ctx context.Context, f Filter) ([]Event, string, error) {
	limit := f.Limit
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	var out []Event
	q := l.db.R.NewSelect().Model(&out).Order("id DESC").Limit(int64(limit + 1))
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.ActorID != "" {
		q = q.Where("actor_id = ?", f.ActorID)
	}
	if f.SubjectID != "" {
		q = q.Where("subject_id = ?", f.SubjectID)
	}
	if f.Outcome != "" {
		q = q.Where("outcome = ?", f.Outcome)
	}
	if !f.Since.IsZero() {
		q = q.Where("created_at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("created_at < ?", f.Until.UTC())
	}
	if f.Before != "" {
		q = q.Where("id < ?", f.Before)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, "", fmt.Errorf("audit: list: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}
