// Package agent is the agent resource: what an agent is (instructions, model,
// tools, handoffs, guardrails, output schema), its immutable versions, and
// who may view, run or edit it.
package agent

import (
	"database/sql/driver"
	"encoding/json"
	"time"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/db"
)

// Visibility says who can see an agent without a grant.
const (
	Private  = "private"  // the owner and grantees
	Unlisted = "unlisted" // anyone with the id may view and run it
	Public   = "public"   // anyone may view and run it, and it may be listed
)

// Permissions a grant gives, each including the ones before it.
const (
	PermView = "view"
	PermRun  = "run"
	PermEdit = "edit"
)

var permRank = map[string]int{PermView: 1, PermRun: 2, PermEdit: 3}

// ToolRef points at a tool the agent may call.
type ToolRef struct {
	Type          string   `json:"type" enum:"builtin,function,mcp,agent" doc:"builtin (by name), function (a user-defined tool), mcp (a server's tools), agent (another agent as a tool)"`
	Name          string   `json:"name,omitempty" maxLength:"64" doc:"builtin: the tool's name"`
	ID            string   `json:"id,omitempty" maxLength:"64" doc:"function or agent: its id"`
	ServerID      string   `json:"server_id,omitempty" maxLength:"64" doc:"mcp: the server's id"`
	Tools         []string `json:"tools,omitempty" maxItems:"100" doc:"mcp: only these of the server's tools (default all)"`
	NeedsApproval bool     `json:"needs_approval,omitempty" doc:"pause the run for a person's approval before each call"`
}

// Guardrail checks a run's input or output.
type Guardrail struct {
	Type     string   `json:"type" enum:"max_length,blocked_patterns,model" doc:"max_length, blocked_patterns (regular expressions) or model (a model judges against instructions)"`
	Stage    string   `json:"stage" enum:"input,output"`
	MaxChars int      `json:"max_chars,omitempty" minimum:"0"`
	Patterns []string `json:"patterns,omitempty" maxItems:"50"`
	Model    string   `json:"model,omitempty" maxLength:"200" doc:"model guardrail: provider/model that judges"`
	Prompt   string   `json:"prompt,omitempty" maxLength:"4000" doc:"model guardrail: what must not pass"`
}

// ModelSettings tune the model calls.
type ModelSettings struct {
	Temperature *float64 `json:"temperature,omitempty" minimum:"0" maximum:"2"`
	TopP        *float64 `json:"top_p,omitempty" minimum:"0" maximum:"1"`
	MaxTokens   int      `json:"max_tokens,omitempty" minimum:"0" maximum:"1000000"`
	MaxTurns    int      `json:"max_turns,omitempty" minimum:"0" maximum:"100" doc:"model calls per run before it ends with max_turns_exceeded (default 10)"`
	Fallbacks   []string `json:"fallbacks,omitempty" maxItems:"5" doc:"provider/model to try, in order, when the main model fails"`
}

// Spec is everything that defines an agent's behaviour. Each change makes
// a new immutable version of it.
type Spec struct {
	Name          string          `json:"name"`
	Description   string          `json:"description"`
	Instructions  string          `json:"instructions"`
	Model         string          `json:"model"`
	ModelSettings ModelSettings   `json:"model_settings"`
	Tools         []ToolRef       `json:"tools"`
	Handoffs      []string        `json:"handoffs"`
	Guardrails    []Guardrail     `json:"guardrails"`
	OutputSchema  json.RawMessage `json:"output_schema,omitempty"`
}

// Agent is the current state of an agent.
type Agent struct {
	bun.BaseModel `bun:"table:agents"`

	ID             string    `bun:"id,pk"`
	OwnerID        string    `bun:"owner_id,notnull"`
	Name           string    `bun:"name,notnull"`
	Description    string    `bun:"description,notnull"`
	Visibility     string    `bun:"visibility,notnull"`
	Tags           Tags      `bun:"tags,type:text,notnull"`
	CurrentVersion int       `bun:"current_version,notnull"`
	CreatedAt      time.Time `bun:"created_at,notnull"`
	UpdatedAt      time.Time `bun:"updated_at,notnull"`

	Spec *Spec `bun:"-"` // the current version's spec, when loaded
}

// Version is one immutable revision.
type Version struct {
	bun.BaseModel `bun:"table:agent_versions"`

	AgentID   string        `bun:"agent_id,pk"`
	Version   int           `bun:"version,pk"`
	Spec      db.JSON[Spec] `bun:"spec,type:jsonb,notnull"`
	CreatedBy string        `bun:"created_by,notnull"`
	CreatedAt time.Time     `bun:"created_at,notnull"`
}

// Grant gives one user a permission on an agent.
type Grant struct {
	bun.BaseModel `bun:"table:agent_grants"`

	AgentID    string    `bun:"agent_id,pk"`
	UserID     string    `bun:"user_id,pk"`
	Permission string    `bun:"permission,notnull"`
	CreatedAt  time.Time `bun:"created_at,notnull"`
}

// Tags are stored as a JSON array in text on both engines, so one query
// filters them everywhere.
type Tags []string

// Value implements driver.Valuer.
func (t Tags) Value() (driver.Value, error) { return db.JSON[[]string]{V: t}.Value() }

// Scan implements sql.Scanner; NULL is no tags.
func (t *Tags) Scan(src any) error {
	switch v := src.(type) {
	case string:
		if v == "[]" {
			*t = Tags{} // most agents have no tags: no JSON decoding for them
			return nil
		}
	case []byte:
		if string(v) == "[]" {
			*t = Tags{}
			return nil
		}
	}
	var j db.JSON[[]string]
	if err := j.Scan(src); err != nil {
		return err
	}
	*t = Tags(j.V)
	if *t == nil {
		*t = Tags{}
	}
	return nil
}
