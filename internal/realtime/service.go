// Package realtime streams events to clients over Server-Sent Events and
// WebSocket: a user's own notifications and the events of the runs they
// may see, live and, after a reconnect, replayed from Last-Event-ID.
// Browsers authenticate with a single-use ticket, never with a long-lived
// token in a URL.
package realtime

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/pulse-run/pulse/internal/platform/apperr"
	"github.com/pulse-run/pulse/internal/platform/authn"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/kv"
)

// RunAccess says whether the caller (in ctx) may see a run; anyone else's
// is apperr.NotFound. The run feature implements it.
type RunAccess interface {
	CanSee(ctx context.Context, runID string) error
}

// Params builds the service.
type Params struct {
	Bus        *events.Bus
	KV         *kv.Store
	Runs       RunAccess
	MaxPerUser int           // open connections per user in this process (default 20)
	Heartbeat  time.Duration // default 15 s
	Buffer     int           // undelivered events per connection before it is dropped (default 128)
	Now        func() time.Time
}

// Service authorises and tracks realtime connections.
type Service struct {
	p Params

	mu       sync.Mutex
	perUser  map[string]int
	sockets  map[*wsConn]struct{} // open WebSockets, closed on drain
	draining bool
	drain    chan struct{} // closed when the server shuts down
	open     sync.WaitGroup

	// life ends with the server: connections that outlive their request
	// (a hijacked WebSocket) take their cancellation from it.
	life context.Context
	end  context.CancelFunc
}

// TicketTTL is how long a ticket may wait to be used.
const TicketTTL = 30 * time.Second

const ticketNamespace = "realtime_ticket"

// New returns the service.
func New(p Params) *Service {
	if p.MaxPerUser <= 0 {
		p.MaxPerUser = 20
	}
	if p.Heartbeat <= 0 {
		p.Heartbeat = 15 * time.Second
	}
	if p.Buffer <= 0 {
		p.Buffer = 128
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	life, end := context.WithCancel(context.Background())
	return &Service{p: p, perUser: map[string]int{}, sockets: map[*wsConn]struct{}{}, drain: make(chan struct{}), life: life, end: end}
}

// Ticket is a single-use credential for one realtime connection.
type Ticket struct {
	Ticket    string    `json:"ticket" doc:"pass as ?ticket= to /events or /ws within 30 s; it works once"`
	ExpiresAt time.Time `json:"expires_at"`
}

// IssueTicket gives the signed-in caller a ticket.
func (s *Service) IssueTicket(ctx context.Context) (*Ticket, error) {
	pr, err := authn.RequireScope(ctx, authn.ScopeRead)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	t := base64.RawURLEncoding.EncodeToString(raw)
	val, err := json.Marshal(pr)
	if err != nil {
		return nil, err
	}
	// Only the hash is stored: the database never holds a usable ticket.
	if err := s.p.KV.Put(ctx, kv.PutParams{Namespace: ticketNamespace, Key: hashTicket(t), Value: val, TTL: TicketTTL}); err != nil {
		return nil, err
	}
	return &Ticket{Ticket: t, ExpiresAt: s.p.Now().Add(TicketTTL).UTC()}, nil
}

func hashTicket(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// redeem turns a ticket into the principal it was issued to, once.
func (s *Service) redeem(ctx context.Context, ticket string) (*authn.Principal, error) {
	bad := apperr.New(apperr.Unauthenticated, "the ticket is invalid, expired or already used")
	if ticket == "" || len(ticket) > 100 {
		return nil, bad
	}
	val, err := s.p.KV.Take(ctx, ticketNamespace, hashTicket(ticket))
	if apperr.Is(err, apperr.NotFound) {
		return nil, bad
	}
	if err != nil {
		return nil, err
	}
	var pr authn.Principal
	if err := json.Unmarshal(val, &pr); err != nil {
		return nil, bad
	}
	return &pr, nil
}

// ConnectParams is a connection request.
type ConnectParams struct {
	Ticket string // when no bearer credential was sent
	RunID  string // only this run's events; empty: everything of the user
}

// conn is an authorised, counted connection.
type conn struct {
	s      *Service
	userID string
	keys   []string
	until  time.Time // when the credential behind it expires
	once   sync.Once
}

// connect authorises a connection and takes one of the user's slots.
func (s *Service) connect(ctx context.Context, p ConnectParams) (context.Context, *conn, error) {
	pr, ok := authn.From(ctx)
	if !ok {
		if p.Ticket == "" {
			return ctx, nil, apperr.New(apperr.Unauthenticated, "send a bearer token, or ?ticket= from POST /api/v1/realtime/tickets")
		}
		var err error
		if pr, err = s.redeem(ctx, p.Ticket); err != nil {
			return ctx, nil, err
		}
		ctx = authn.With(ctx, pr)
	}
	if !pr.Can(authn.ScopeRead) {
		return ctx, nil, apperr.New(apperr.PermissionDenied, "this API key lacks the read scope")
	}
	keys := []string{events.UserKey(pr.UserID)}
	if p.RunID != "" {
		if err := s.p.Runs.CanSee(ctx, p.RunID); err != nil {
			return ctx, nil, err
		}
		keys = []string{events.RunKey(p.RunID)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return ctx, nil, apperr.New(apperr.Unavailable, "the server is shutting down; reconnect")
	}
	if s.perUser[pr.UserID] >= s.p.MaxPerUser {
		return ctx, nil, apperr.Errorf(apperr.RateLimited, "at most %d realtime connections per user", s.p.MaxPerUser)
	}
	s.perUser[pr.UserID]++
	s.open.Add(1)
	return ctx, &conn{s: s, userID: pr.UserID, keys: keys, until: pr.ExpiresAt}, nil
}

func (c *conn) release() {
	c.once.Do(func() {
		c.s.mu.Lock()
		if c.s.perUser[c.userID]--; c.s.perUser[c.userID] <= 0 {
			delete(c.s.perUser, c.userID)
		}
		c.s.mu.Unlock()
		c.s.open.Done()
	})
}

// expiry fires when the connection's credential expires (never if unknown).
func (c *conn) expiry() <-chan time.Time {
	if c.until.IsZero() {
		return nil
	}
	return time.After(time.Until(c.until))
}

// subscribe listens on the connection's keys, then returns what it missed
// after lastID. Subscribing first means nothing falls between the two;
// replayed ids are returned so the live copies can be skipped.
func (s *Service) subscribe(ctx context.Context, c *conn, lastID string, notify func()) (*events.Sub, []events.Event, map[string]bool, error) {
	sub := s.p.Bus.SubscribeNotify(c.keys, s.p.Buffer, notify)
	if lastID == "" {
		return sub, nil, nil, nil
	}
	missed, err := s.p.Bus.Replay(ctx, lastID, c.keys, 1000)
	if err != nil {
		sub.Close()
		return nil, nil, nil, err
	}
	seen := make(map[string]bool, len(missed))
	for _, ev := range missed {
		seen[ev.ID] = true
	}
	return sub, missed, seen, nil
}

// Drain tells every open connection to reconnect elsewhere and waits for
// them to close, until ctx ends; then the ones left are cut and waited
// for. New connections are refused.
func (s *Service) Drain(ctx context.Context) {
	s.mu.Lock()
	if !s.draining {
		s.draining = true
		close(s.drain)
	}
	sockets := make([]*wsConn, 0, len(s.sockets))
	for w := range s.sockets {
		sockets = append(sockets, w)
	}
	s.mu.Unlock()
	for _, w := range sockets {
		// A close waits for the client's answer: all at once, not in turn.
		go w.close(websocket.StatusGoingAway, closeMessage("shutdown"))
	}
	done := make(chan struct{})
	go func() {
		s.open.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		// Sockets that did not close in time are cut: their reads and
		// writes end with the server's context. A stream stuck writing to
		// a client that reads nothing is left to the HTTP server's
		// shutdown.
		s.end()
		select {
		case <-done:
		case <-time.After(time.Second):
		}
	}
	s.end()
}

// Open counts this process's connections (for metrics and tests).
func (s *Service) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.perUser {
		n += v
	}
	return n
}
