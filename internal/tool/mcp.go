package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/uptrace/bun"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/platform/outbound"
	"github.com/pulse-run/pulse/internal/platform/vault"
)

// MCPServer is a remote Model Context Protocol server (streamable HTTP).
type MCPServer struct {
	bun.BaseModel `bun:"table:mcp_servers"`

	ID         string    `bun:"id,pk"`
	OwnerID    string    `bun:"owner_id,notnull"`
	Name       string    `bun:"name,notnull"`
	URL        string    `bun:"url,notnull"`
	HeadersEnc string    `bun:"headers_enc,notnull"` // vault-encrypted JSON object
	CreatedAt  time.Time `bun:"created_at,notnull"`
}

// MCP manages servers and calls their tools.
type MCP struct {
	db     *db.DB
	vault  *vault.Vault
	policy *outbound.Policy
	client *http.Client // the policy's: public addresses unless allowed
	pool   *mcpSessions
}

// NewMCP returns the MCP service; servers are reached through p (nil:
// public addresses only). The client's 2 min timeout bounds each request
// of a pooled session, not the session.
func NewMCP(d *db.DB, v *vault.Vault, p *outbound.Policy) *MCP {
	if p == nil {
		p = outbound.Public()
	}
	return &MCP{db: d, vault: v, policy: p, client: p.Client(outbound.ClientOptions{Timeout: 2 * time.Minute}), pool: &mcpSessions{open: map[string]*pooledSession{}, now: time.Now}}
}

// Close ends the open sessions to MCP servers.
func (m *MCP) Close() { m.pool.closeAll() }

// CreateMCPParams registers a server.
type CreateMCPParams struct {
	Name    string
	URL     string
	Headers map[string]string // e.g. Authorization for the server
}

// Create registers a server for the caller.
func (m *MCP) Create(ctx context.Context, p CreateMCPParams) (*MCPServer, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return nil, err
	}
	if !toolName.MatchString(p.Name) {
		return nil, apperr.InvalidField("body.name", "must be lowercase letters, digits and _, starting with a letter, up to 64")
	}
	if err := m.policy.CheckURL(p.URL); err != nil {
		return nil, apperr.InvalidField("body.url", err.Error()+" (the streamable-HTTP MCP endpoint)")
	}
	id := ids.New()
	s := &MCPServer{ID: id, OwnerID: pr.UserID, Name: p.Name, URL: p.URL, CreatedAt: time.Now().UTC()}
	if len(p.Headers) > 0 {
		b, _ := json.Marshal(p.Headers)
		if s.HeadersEnc, err = m.vault.Encrypt(b, "mcp_headers:"+id); err != nil {
			return nil, err
		}
	}
	if _, err := m.db.W.NewInsert().Model(s).Exec(ctx); err != nil {
		if db.IsUniqueViolation(err) {
			return nil, apperr.Errorf(apperr.Conflict, "you already have an MCP server named %q", p.Name)
		}
		return nil, err
	}
	return s, nil
}

// List returns the caller's servers.
func (m *MCP) List(ctx context.Context) ([]MCPServer, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, err
	}
	var out []MCPServer
	err = m.db.R.NewSelect().Model(&out).Where("owner_id = ?", pr.UserID).Order("name").Scan(ctx)
	return out, err
}

// Delete removes one of the caller's servers.
func (m *MCP) Delete(ctx context.Context, id string) error {
	pr, err := authn.RequireScope(ctx, authn.ScopeWrite)
	if err != nil {
		return err
	}
	if err := m.db.DeleteOwned(ctx, db.DeleteOwnedParams{Model: (*MCPServer)(nil), ID: id, OwnerID: pr.UserID, What: "MCP server"}); err != nil {
		return err
	}
	m.pool.drop(id, nil)
	return nil
}

// CheckServer says whether the owner has this server (agent validation).
func (m *MCP) CheckServer(ctx context.Context, ownerID, id string) error {
	n, err := m.db.R.NewSelect().Model((*MCPServer)(nil)).Where("id = ? AND owner_id = ?", id, ownerID).Count(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return apperr.Errorf(apperr.NotFound, "MCP server %q not found", id)
	}
	return nil
}

// RemoteTool is one tool of a server, ready to bind.
type RemoteTool struct {
	Name        string
	Description string
	Parameters  json.RawMessage
	Run         Func
}

// Tools lists a server's tools (only those named in only, when given).
func (m *MCP) Tools(ctx context.Context, serverID string, only []string) ([]RemoteTool, error) {
	srv := &MCPServer{}
	if err := m.db.R.NewSelect().Model(srv).Where("id = ?", serverID).Scan(ctx); err != nil {
		return nil, fmt.Errorf("MCP server %s: %w", serverID, err)
	}
	var res *mcp.ListToolsResult
	err := m.withSession(ctx, srv, func(session *mcp.ClientSession) (err error) {
		res, err = session.ListTools(ctx, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("MCP server %s: list tools: %w", srv.Name, err)
	}
	var out []RemoteTool
	for _, t := range res.Tools {
		if len(only) > 0 && !slices.Contains(only, t.Name) {
			continue
		}
		params, _ := json.Marshal(t.InputSchema)
		if len(params) == 0 || string(params) == "null" {
			params = json.RawMessage(`{"type":"object"}`)
		}
		name := t.Name
		out = append(out, RemoteTool{Name: name, Description: t.Description, Parameters: params, Run: m.caller(srv, name)})
	}
	return out, nil
}

func (m *MCP) caller(srv *MCPServer, name string) Func {
	return func(ctx context.Context, args json.RawMessage) (string, error) {
		var in map[string]any
		if err := json.Unmarshal(args, &in); err != nil {
			return "", err
		}
		var res *mcp.CallToolResult
		err := m.withSession(ctx, srv, func(session *mcp.ClientSession) (err error) {
			res, err = session.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: in})
			return err
		})
		if err != nil {
			return "", fmt.Errorf("MCP call %s: %w", name, err)
		}
		var text strings.Builder
		for _, c := range res.Content {
			if t, ok := c.(*mcp.TextContent); ok {
				text.WriteString(t.Text)
			}
		}
		if text.Len() == 0 && res.StructuredContent != nil {
			b, _ := json.Marshal(res.StructuredContent)
			text.Write(b)
		}
		if res.IsError {
			return "", errors.New(truncate(text.String(), 2000))
		}
		return truncate(text.String(), 20_000), nil
	}
}

// withSession runs fn on the server's pooled session. A session the server
// has forgotten (it restarted, or expired it) fails; it is replaced once.
func (m *MCP) withSession(ctx context.Context, srv *MCPServer, fn func(*mcp.ClientSession) error) error {
	for attempt := 0; ; attempt++ {
		session, err := m.pool.get(ctx, srv.ID, func(ctx context.Context) (*mcp.ClientSession, error) { return m.connect(ctx, srv) })
		if err != nil {
			return err
		}
		err = fn(session)
		if err == nil || attempt > 0 || ctx.Err() != nil || !sessionBroken(err) {
			return err
		}
		m.pool.drop(srv.ID, session)
	}
}

// sessionBroken tells a dead session from a tool's own failure, which a new
// session would not fix (and retrying could repeat a side effect).
func sessionBroken(err error) bool {
	return errors.Is(err, mcp.ErrConnectionClosed) || errors.Is(err, mcp.ErrSessionMissing)
}

func (m *MCP) connect(ctx context.Context, srv *MCPServer) (*mcp.ClientSession, error) {
	client := m.client
	if srv.HeadersEnc != "" {
		raw, err := m.vault.Decrypt(ctx, srv.HeadersEnc, "mcp_headers:"+srv.ID)
		if err != nil {
			return nil, err
		}
		var headers map[string]string
		if err := json.Unmarshal(raw, &headers); err != nil {
			return nil, err
		}
		// The server's headers are its credentials: a redirect to another
		// host must not carry them.
		client = outbound.WithHeaders(client, headers)
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "pulse", Version: "1"}, nil)
	session, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.URL, HTTPClient: client, MaxRetries: 1}, nil)
	if err != nil {
		if errors.Is(err, outbound.ErrRefused) {
			return nil, fmt.Errorf("refused: the MCP server's URL leads to an address that is not public: %v", err)
		}
		return nil, fmt.Errorf("MCP server %s: %w", srv.Name, err)
	}
	return session, nil
}
