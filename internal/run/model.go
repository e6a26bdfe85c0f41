// Package run executes agents: the loop that calls the model, runs the
// tools it asks for and feeds the results back until it answers, recording
// every step as the run's decision trace.
package run

import (
	"encoding/json"
	"time"

	"github.com/uptrace/bun"
)

// Status is where a run is in its life. Its values are part of the API: a
// run's "status", and the runs list's filter.
type Status string

// Run statuses.
const (
	StatusQueued         Status = "queued"
	StatusRunning        Status = "running"
	StatusRequiresAction Status = "requires_action" // waiting for a tool call's approval
	StatusSucceeded      Status = "succeeded"
	StatusFailed         Status = "failed"
	StatusCancelled      Status = "cancelled"
)

// Statuses lists every run status, in the order the API documents them.
var Statuses = []Status{StatusQueued, StatusRunning, StatusRequiresAction, StatusSucceeded, StatusFailed, StatusCancelled}

// ErrorCode says why a run failed. Its values are part of the API: a run's
// "error.code".
type ErrorCode string

// Run error codes.
const (
	CodeStorageError        ErrorCode = "storage_error"        // the run's state could not be saved
	CodeProviderError       ErrorCode = "provider_error"       // the model's provider failed
	CodeProviderUnavailable ErrorCode = "provider_unavailable" // no provider is configured for the model
	CodeToolUnavailable     ErrorCode = "tool_unavailable"     // a tool the agent names cannot be used
	CodeCancelled           ErrorCode = "cancelled"            // a user cancelled the run
	CodeInvalidOutput       ErrorCode = "invalid_output"       // the final answer does not match the output schema
	CodeMaxTurnsExceeded    ErrorCode = "max_turns_exceeded"   // the agent did not answer within its model calls
	CodeGuardrailTripped    ErrorCode = "guardrail_tripped"    // a guardrail refused the input or the output
	CodeGuardrailError      ErrorCode = "guardrail_error"      // a guardrail could not decide (fails closed)
	CodeDeadlineExceeded    ErrorCode = "deadline_exceeded"    // the run did not end before PULSE_RUN_TIMEOUT
	CodeInternal            ErrorCode = "internal"             // a streamed run could not be saved
)

// ErrorCodes lists every run error code.
var ErrorCodes = []ErrorCode{CodeStorageError, CodeProviderError, CodeProviderUnavailable, CodeToolUnavailable, CodeCancelled,
	CodeInvalidOutput, CodeMaxTurnsExceeded, CodeGuardrailTripped, CodeGuardrailError, CodeDeadlineExceeded, CodeInternal}

// StepStatus is how a recorded step ended: part of the API (a step's
// "status").
type StepStatus string

// Step statuses.
const (
	StepSucceeded StepStatus = "succeeded"
	StepFailed    StepStatus = "failed"
)

// Step kinds.
const (
	StepModel     = "model"
	StepTool      = "tool"
	StepHandoff   = "handoff"
	StepGuardrail = "guardrail"
	StepApproval  = "approval"
)

// Run is one execution of one agent version.
type Run struct {
	bun.BaseModel `bun:"table:runs"`

	ID             string          `bun:"id,pk"`
	AgentID        string          `bun:"agent_id,notnull"`
	AgentVersion   int             `bun:"agent_version,notnull"`
	ConversationID string          `bun:"conversation_id,notnull"`
	OwnerID        string          `bun:"owner_id,notnull"`
	Status         Status          `bun:"status,notnull"`
	Input          string          `bun:"input,notnull"`
	Output         json.RawMessage `bun:"output,type:jsonb,nullzero"`
	ErrorCode      ErrorCode       `bun:"error_code,notnull"`
	ErrorMessage   string          `bun:"error_message,notnull"`
	State          *State          `bun:"state,type:jsonb"`
	InputTokens    int             `bun:"input_tokens,notnull"`
	OutputTokens   int             `bun:"output_tokens,notnull"`
	CostMicros     int64           `bun:"cost_micros,notnull"`
	CreatedAt      time.Time       `bun:"created_at,notnull"`
	StartedAt      *time.Time      `bun:"started_at"`
	FinishedAt     *time.Time      `bun:"finished_at"`

	// Durability: who executes the run, since when it is silent, and by
	// when it must end.
	Background      bool       `bun:"background,notnull"`
	Attempt         int        `bun:"attempt,notnull"`
	LeaseOwner      string     `bun:"lease_owner,notnull"`
	HeartbeatAt     *time.Time `bun:"heartbeat_at"`
	DeadlineAt      *time.Time `bun:"deadline_at"`
	JobID           string     `bun:"job_id,notnull"`
	CancelRequested bool       `bun:"cancel_requested,notnull"`
}

// Finished reports whether the run reached a final status.
func (r *Run) Finished() bool {
	switch r.Status {
	case StatusSucceeded, StatusFailed, StatusCancelled:
		return true
	}
	return false
}

// Step is one recorded decision: a model call, a tool call…
type Step struct {
	bun.BaseModel `bun:"table:run_steps"`

	RunID         string          `bun:"run_id,pk" json:"-"`
	Seq           int             `bun:"seq,pk" json:"seq"`
	Kind          string          `bun:"kind,notnull" json:"kind" enum:"model,tool,handoff,guardrail,approval"`
	Name          string          `bun:"name,notnull" json:"name" doc:"the model, or the tool's name"`
	Status        StepStatus      `bun:"status,notnull" json:"status" enum:"succeeded,failed"`
	Input         json.RawMessage `bun:"input,type:jsonb,notnull" json:"input"`
	Output        json.RawMessage `bun:"output,type:jsonb,notnull" json:"output"`
	Error         string          `bun:"error,notnull" json:"error,omitempty"`
	InputTokens   int             `bun:"input_tokens,notnull" json:"input_tokens"`
	OutputTokens  int             `bun:"output_tokens,notnull" json:"output_tokens"`
	CostMicros    int64           `bun:"cost_micros,notnull" json:"cost_micros" doc:"what this step cost, in micro-credits"`
	LatencyMicros int64           `bun:"latency_micros,notnull" json:"latency_micros"`
	StartedAt     time.Time       `bun:"started_at,notnull" json:"started_at"`
	FinishedAt    time.Time       `bun:"finished_at,notnull" json:"finished_at"`
}
