// Package workflow is durable graph workflows: documents with immutable
// versions, runs executed super-step by super-step as queue jobs with a
// checkpoint after each, interrupts for people, time travel from any
// checkpoint, triggers (cron, webhook, platform events) and threads of
// runs on one state. The engine itself is the pure package graph.
package workflow

import (
	"encoding/json"
	"time"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/workflow/graph"
)

// Run statuses.
const (
	StatusPending     = "pending" // waiting for its thread's active run (enqueue policy)
	StatusQueued      = "queued"
	StatusRunning     = "running"
	StatusInterrupted = "interrupted" // waiting for input
	StatusSucceeded   = "succeeded"
	StatusFailed      = "failed"
	StatusCancelled   = "cancelled"
)

// Workflow is a named graph with its versions.
type Workflow struct {
	bun.BaseModel `bun:"table:workflows"`

	ID                   string    `bun:"id,pk"`
	OwnerID              string    `bun:"owner_id,notnull"`
	Name                 string    `bun:"name,notnull"`
	Description          string    `bun:"description,notnull"`
	LatestVersion        int       `bun:"latest_version,notnull"`
	PublishedVersion     int       `bun:"published_version,notnull"` // 0: none, runs use the latest
	KeepCheckpoints      int       `bun:"keep_checkpoints,notnull"`  // per run; 0: all
	CheckpointTTLSeconds int64     `bun:"checkpoint_ttl_seconds,notnull"`
	CreatedAt            time.Time `bun:"created_at,notnull"`
	UpdatedAt            time.Time `bun:"updated_at,notnull"`
}

// Version is an immutable saved spec.
type Version struct {
	bun.BaseModel `bun:"table:workflow_versions"`

	WorkflowID string          `bun:"workflow_id,pk"`
	Version    int             `bun:"version,pk"`
	Spec       json.RawMessage `bun:"spec,type:jsonb,notnull"`
	CreatedAt  time.Time       `bun:"created_at,notnull"`
}

// Run is one execution of one workflow version.
type Run struct {
	bun.BaseModel `bun:"table:workflow_runs"`

	ID           string            `bun:"id,pk"`
	WorkflowID   string            `bun:"workflow_id,notnull"`
	Version      int               `bun:"version,notnull"`
	OwnerID      string            `bun:"owner_id,notnull"`
	ThreadID     string            `bun:"thread_id,notnull"`
	Status       string            `bun:"status,notnull"`
	Origin       string            `bun:"origin,notnull"`        // api, cron, webhook, event, fork
	TriggerChain db.JSON[[]string] `bun:"trigger_chain,notnull"` // the workflows whose runs' events led to this one, oldest first
	Input        json.RawMessage   `bun:"input,type:jsonb,notnull"`
	Checkpoint   *graph.Checkpoint `bun:"checkpoint,type:jsonb"`
	CheckpointID string            `bun:"checkpoint_id,notnull"`
	Resume       json.RawMessage   `bun:"resume,type:jsonb,nullzero"` // an answer not yet applied
	ForkedFrom   string            `bun:"forked_from,notnull"`        // the checkpoint this run started from
	ErrorCode    string            `bun:"error_code,notnull"`
	ErrorMessage string            `bun:"error_message,notnull"`
	FailedNode   string            `bun:"failed_node,notnull"`
	CreatedAt    time.Time         `bun:"created_at,notnull"`
	StartedAt    *time.Time        `bun:"started_at"`
	FinishedAt   *time.Time        `bun:"finished_at"`

	Background      bool       `bun:"background,notnull"`
	Attempt         int        `bun:"attempt,notnull"`
	LeaseOwner      string     `bun:"lease_owner,notnull"`
	HeartbeatAt     *time.Time `bun:"heartbeat_at"`
	DeadlineAt      *time.Time `bun:"deadline_at"`
	InterruptUntil  *time.Time `bun:"interrupt_until"` // when an unanswered interrupt times out
	CancelRequested bool       `bun:"cancel_requested,notnull"`

	// fresh: inserted by this process and never executed, so it has no
	// node records to reuse.
	fresh bool
}

// Finished reports whether the run reached a final status.
func (r *Run) Finished() bool {
	switch r.Status {
	case StatusSucceeded, StatusFailed, StatusCancelled:
		return true
	}
	return false
}

// CheckpointRow is a run's position after one super-step.
type CheckpointRow struct {
	bun.BaseModel `bun:"table:workflow_checkpoints"`

	ID         string            `bun:"id,pk"`
	RunID      string            `bun:"run_id,notnull"`
	WorkflowID string            `bun:"workflow_id,notnull"`
	Step       int               `bun:"step,notnull"`
	Data       *graph.Checkpoint `bun:"data,type:jsonb,notnull"`
	CreatedAt  time.Time         `bun:"created_at,notnull"`
}

// StepRow is what one node did: the run's decision trace.
type StepRow struct {
	bun.BaseModel `bun:"table:workflow_steps"`

	ID         string        `bun:"id,pk"`
	RunID      string        `bun:"run_id,notnull"`
	Step       int           `bun:"step,notnull"`
	Node       string        `bun:"node,notnull"`
	Type       string        `bun:"type,notnull"`
	Status     string        `bun:"status,notnull"`
	Record     *graph.Record `bun:"record,type:jsonb,notnull"`
	StartedAt  time.Time     `bun:"started_at,notnull"`
	FinishedAt time.Time     `bun:"finished_at,notnull"`
}

// Thread policies: what happens when input arrives while a run is active.
const (
	PolicyReject    = "reject"    // refuse it (409)
	PolicyEnqueue   = "enqueue"   // run it after the active run
	PolicyInterrupt = "interrupt" // stop the active run, keep its progress, run the new input
	PolicyRollback  = "rollback"  // stop the active run, discard its progress, run the new input
)

// Thread is an ordered series of runs on one state, for chat-style
// workflows.
type Thread struct {
	bun.BaseModel `bun:"table:workflow_threads"`

	ID          string          `bun:"id,pk"`
	OwnerID     string          `bun:"owner_id,notnull"`
	WorkflowID  string          `bun:"workflow_id,notnull"`
	Policy      string          `bun:"policy,notnull"`
	State       json.RawMessage `bun:"state,type:jsonb,nullzero"` // after the last finished run
	ActiveRunID string          `bun:"active_run_id,notnull"`
	LastRunID   string          `bun:"last_run_id,notnull"`
	CreatedAt   time.Time       `bun:"created_at,notnull"`
	UpdatedAt   time.Time       `bun:"updated_at,notnull"`
}

// Trigger types.
const (
	TriggerCron    = "cron"
	TriggerWebhook = "webhook"
	TriggerEvent   = "event"
)

// Trigger starts runs of a workflow on a schedule, a signed webhook call,
// or a platform event.
type Trigger struct {
	bun.BaseModel `bun:"table:workflow_triggers"`

	ID          string          `bun:"id,pk"`
	OwnerID     string          `bun:"owner_id,notnull"`
	WorkflowID  string          `bun:"workflow_id,notnull"`
	Type        string          `bun:"type,notnull"`
	Enabled     bool            `bun:"enabled,notnull"`
	Cron        string          `bun:"cron,notnull"`
	Timezone    string          `bun:"timezone,notnull"`
	Event       string          `bun:"event,notnull"`
	Secret      string          `bun:"secret,notnull"` // vault ciphertext
	Input       json.RawMessage `bun:"input,type:jsonb,notnull"`
	ThreadID    string          `bun:"thread_id,notnull"`
	NextFireAt  *time.Time      `bun:"next_fire_at"`
	LastFiredAt *time.Time      `bun:"last_fired_at"`
	LastRunID   string          `bun:"last_run_id,notnull"`
	LastError   string          `bun:"last_error,notnull"` // why the last firing started no run
	CreatedAt   time.Time       `bun:"created_at,notnull"`
}
