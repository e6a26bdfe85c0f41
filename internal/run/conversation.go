package run

import (
	"context"
	"time"

	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/ids"
)

// Conversation is a thread of runs.
type Conversation struct {
	bun.BaseModel `bun:"table:conversations"`

	ID        string    `bun:"id,pk"`
	OwnerID   string    `bun:"owner_id,notnull"`
	AgentID   string    `bun:"agent_id,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
	UpdatedAt time.Time `bun:"updated_at,notnull"`
}

// Message is one stored message of a conversation.
type Message struct {
	bun.BaseModel `bun:"table:conversation_messages"`

	ConversationID string         `bun:"conversation_id,pk" json:"-"`
	Seq            int            `bun:"seq,pk" json:"seq"`
	RunID          string         `bun:"run_id,notnull" json:"run_id"`
	Role           string         `bun:"role,notnull" json:"role" enum:"user,assistant,tool"`
	Content        string         `bun:"content,notnull" json:"content"`
	ToolCalls      []llm.ToolCall `bun:"tool_calls,type:jsonb,notnull" json:"tool_calls,omitempty"`
	ToolCallID     string         `bun:"tool_call_id,notnull" json:"tool_call_id,omitempty"`
	Name           string         `bun:"name,notnull" json:"name,omitempty"`
	CreatedAt      time.Time      `bun:"created_at,notnull" json:"created_at"`
}

// conversationFor returns the caller's conversation and its messages as
// history, or starts a new one for the agent.
func (s *Service) conversationFor(ctx context.Context, ownerID, agentID, id string) (*Conversation, []llm.Message, error) {
	now := s.now().UTC()
	if id == "" {
		c := &Conversation{ID: ids.New(), OwnerID: ownerID, AgentID: agentID, CreatedAt: now, UpdatedAt: now}
		_, err := s.db.W.NewInsert().Model(c).Exec(ctx)
		return c, nil, err
	}
	c := &Conversation{}
	err := s.db.R.NewSelect().Model(c).Where("id = ? AND owner_id = ?", id, ownerID).Scan(ctx)
	if db.IsNoRows(err) {
		return nil, nil, apperr.New(apperr.NotFound, "conversation not found")
	}
	if err != nil {
		return nil, nil, err
	}
	var stored []Message
	if err := s.db.R.NewSelect().Model(&stored).Where("conversation_id = ?", id).Order("seq").Scan(ctx); err != nil {
		return nil, nil, err
	}
	history := make([]llm.Message, len(stored))
	for i, m := range stored {
		history[i] = llm.Message{Role: m.Role, Content: m.Content, ToolCalls: m.ToolCalls, ToolCallID: m.ToolCallID, Name: m.Name}
	}
	return c, history, nil
}

// appendMessages adds a run's messages to its conversation.
func (s *Service) appendMessages(ctx context.Context, c *Conversation, runID string, start int, msgs []llm.Message) error {
	now := s.now().UTC()
	return s.db.InTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		for i, m := range msgs {
			row := &Message{ConversationID: c.ID, Seq: start + i + 1, RunID: runID, Role: m.Role, Content: m.Content,
				ToolCalls: m.ToolCalls, ToolCallID: m.ToolCallID, Name: m.Name, CreatedAt: now}
			if row.ToolCalls == nil {
				row.ToolCalls = []llm.ToolCall{}
			}
			if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
				return err
			}
		}
		_, err := tx.NewUpdate().Model(c).Set("updated_at = ?", now).WherePK().Exec(ctx)
		return err
	})
}

// Messages returns a conversation of the caller's, in order.
func (s *Service) Messages(ctx context.Context, id string) ([]Message, error) {
	p, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, err
	}
	n, err := s.db.R.NewSelect().Model((*Conversation)(nil)).Where("id = ? AND owner_id = ?", id, p.UserID).Count(ctx)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, apperr.New(apperr.NotFound, "conversation not found")
	}
	var out []Message
	err = s.db.R.NewSelect().Model(&out).Where("conversation_id = ?", id).Order("seq").Scan(ctx)
	return out, err
}
