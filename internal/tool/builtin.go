package tool

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Func runs a tool with JSON arguments (already validated against its
// schema) and returns its result as text for the model. An error is shown
// to the model as the tool's answer; it does not fail the run.
type Func func(ctx context.Context, args json.RawMessage) (string, error)

// Runtime runs the built-in tools.
type Runtime struct {
	Now       func() time.Time
	Fetcher   *Fetcher
	Functions *Functions // user-defined tools; nil: none
	MCP       *MCP       // remote MCP servers; nil: none
	Search    *Searcher  // web search; nil: web_search is not available
}

// NewRuntime returns a runtime with the production fetch policy.
func NewRuntime(now func() time.Time) *Runtime {
	if now == nil {
		now = time.Now
	}
	return &Runtime{Now: now, Fetcher: NewFetcher(FetchPolicy{})}
}

// Executor returns the built-in tool's implementation.
func (r *Runtime) Executor(name string) (Func, bool) {
	now := r.Now
	switch name {
	case "web_fetch":
		return FetchFunc(r.Fetcher), true
	case "web_search":
		if r.Search == nil {
			return nil, false
		}
		return SearchFunc(r.Search), true
	case "current_time":
		return func(_ context.Context, args json.RawMessage) (string, error) {
			var in struct {
				Timezone string `json:"timezone"`
			}
			if len(args) > 0 {
				if err := json.Unmarshal(args, &in); err != nil {
					return "", err
				}
			}
			loc := time.UTC
			if in.Timezone != "" {
				l, err := time.LoadLocation(in.Timezone)
				if err != nil || in.Timezone == "Local" {
					return "", fmt.Errorf("unknown time zone %q", in.Timezone)
				}
				loc = l
			}
			t := now().In(loc)
			return fmt.Sprintf(`{"iso":%q,"timezone":%q,"weekday":%q}`, t.Format(time.RFC3339), loc.String(), t.Weekday()), nil
		}, true
	}
	return nil, false
}
