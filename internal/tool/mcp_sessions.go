package tool

import (
	"context"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpMaxAge is how long an MCP session is reused after it opened. Opening
// one costs an initialize round trip (and often a server-side allocation),
// so a run's tool listing and its calls, and the next runs', share one. It
// stays below the outbound client's 2-minute timeout, which cuts the
// session's event stream.
const mcpMaxAge = 90 * time.Second

// mcpSessions keeps one open session per server. Servers belong to one
// owner and cannot be edited, so a session never crosses users or stale
// headers; deleting a server drops its session.
type mcpSessions struct {
	mu   sync.Mutex
	open map[string]*pooledSession
	now  func() time.Time
}

type pooledSession struct {
	s      *mcp.ClientSession
	opened time.Time
}

// get returns the server's session, opening one with dial when there is
// none or it is too old. Old sessions of other servers are closed.
func (p *mcpSessions) get(ctx context.Context, id string, dial func(context.Context) (*mcp.ClientSession, error)) (*mcp.ClientSession, error) {
	p.mu.Lock()
	now := p.now()
	var stale []*mcp.ClientSession
	for k, ps := range p.open {
		if now.Sub(ps.opened) > mcpMaxAge {
			stale = append(stale, ps.s)
			delete(p.open, k)
		}
	}
	ps, ok := p.open[id]
	p.mu.Unlock()
	for _, s := range stale {
		_ = s.Close()
	}
	if ok {
		return ps.s, nil
	}
	// The session outlives this request, so it must not end with its context.
	s, err := dial(context.WithoutCancel(ctx))
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if other, raced := p.open[id]; raced { // another call connected first: keep one
		p.mu.Unlock()
		_ = s.Close()
		return other.s, nil
	}
	p.open[id] = &pooledSession{s: s, opened: now}
	p.mu.Unlock()
	return s, nil
}

// drop closes the server's session if it is still s (nil: whatever it is).
func (p *mcpSessions) drop(id string, s *mcp.ClientSession) {
	p.mu.Lock()
	ps, ok := p.open[id]
	if ok && (s == nil || ps.s == s) {
		delete(p.open, id)
	} else {
		ok = false
	}
	p.mu.Unlock()
	if ok {
		_ = ps.s.Close()
	}
}

// closeAll ends every session (at shutdown).
func (p *mcpSessions) closeAll() {
	p.mu.Lock()
	open := p.open
	p.open = map[string]*pooledSession{}
	p.mu.Unlock()
	for _, ps := range open {
		_ = ps.s.Close()
	}
}
