// Package outbound is the one policy for every call Pulse makes to the
// outside: web_fetch, function tools, MCP servers, web search, workflow http
// nodes, model providers and sign-in providers. Users choose many of these
// URLs, so a call must never reach the network Pulse runs in.
//
// The rule is checked where it cannot be dodged: on every address actually
// dialled (net.Dialer.Control), after the name is resolved, for every
// connection and every redirect. A literal URL that can never be public is
// also refused when it is saved (CheckURL), so users learn early; that check
// is a courtesy, the dial-time check is the guard.
//
// An operator opens holes for private deployments with PULSE_OUTBOUND_ALLOW
// (host names and CIDRs); tests use the same setting instead of hooks.
//
// Errors from the client name only the host the caller gave, never the
// address it resolved to, so a refusal cannot be used to map the inside.
package outbound
