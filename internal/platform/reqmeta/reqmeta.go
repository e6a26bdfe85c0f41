// Package reqmeta carries facts about the client of a request (address,
// user agent) through context.Context, so a service can record who did
// something without handlers passing it down by hand. It also finds that
// address behind trusted reverse proxies (X-Forwarded-For, Forwarded), in
// one place, for every limit and record that keys on it.
package reqmeta

import "context"

// Client describes who sent the request.
type Client struct {
	IP        string
	UserAgent string
}

type key struct{}

// With returns ctx carrying c.
func With(ctx context.Context, c Client) context.Context { return context.WithValue(ctx, key{}, c) }

// From returns the client in ctx (zero if none: a job, a CLI command).
func From(ctx context.Context) Client {
	c, _ := ctx.Value(key{}).(Client)
	return c
}
