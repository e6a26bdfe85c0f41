// Package job runs named background tasks for users: a client posts
// {type, payload}, gets a job id at once, and polls the job (or follows it
// on the events bus) for its result. Features register the task types;
// this package provides the queueing, retries and status.
package job

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/uptrace/bun"
)

// Statuses of a job.
const (
	StatusQueued         = "queued"
	StatusRunning        = "running"
	StatusSucceeded      = "succeeded"
	StatusFailed         = "failed"
	StatusCancelled      = "cancelled"
	StatusRequiresAction = "requires_action"
)

// Job is one task for one user.
type Job struct {
	bun.BaseModel `bun:"table:jobs"`

	ID         string          `bun:"id,pk"`
	OwnerID    string          `bun:"owner_id,notnull"`
	Type       string          `bun:"type,notnull"`
	Status     string          `bun:"status,notnull"`
	Payload    json.RawMessage `bun:"payload,type:jsonb,notnull"`
	Result     json.RawMessage `bun:"result,type:jsonb,nullzero"`
	Error      string          `bun:"error,notnull"`
	Attempts   int             `bun:"attempts,notnull"`
	RunID      string          `bun:"run_id,notnull"`
	CreatedAt  time.Time       `bun:"created_at,notnull"`
	StartedAt  *time.Time      `bun:"started_at"`
	FinishedAt *time.Time      `bun:"finished_at"`
}

// Handler does one task for its owner (the principal in ctx) and returns
// its result as JSON.
type Handler func(ctx context.Context, payload json.RawMessage) (json.RawMessage, error)

// Type is a kind of task users may start.
type Type struct {
	Name        string
	Description string
	Payload     json.RawMessage // JSON Schema of the payload; nil: any object
	Handle      Handler
}

// ErrTransient marks a failure that another attempt may not repeat (a
// service down, a rate limit): the job is retried with backoff.
var ErrTransient = errors.New("job: transient failure")
