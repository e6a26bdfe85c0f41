package workflow

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pulse-run/pulse/internal/platform/outbound"
	"github.com/pulse-run/pulse/internal/workflow/graph"
)

// The parsers users feed: workflow documents (JSON, or YAML in a JSON
// string) through the save path, and cron specs with their zones. The
// seeds run as ordinary tests; `go test -fuzz` explores from them.

var documentSeeds = []string{
	`{"entry":"a","nodes":[{"id":"a","type":"noop"}]}`,
	`{"entry":"classify","nodes":[{"id":"classify","type":"router","routes":[{"when":"state.n > 10","to":"big"}],"default":"small"},` +
		`{"id":"big","type":"transform","set":{"size":"'big'"}},{"id":"small","type":"transform","format":{"size":"small {{ state.n }}"}},` +
		`{"id":"done","type":"end"}],"edges":[{"from":"big","to":"done"},{"from":"small","to":"done"}]}`,
	`{"entry":"m","state":{"type":"object","properties":{"docs":{"type":"array"}}},"reducers":{"out":"append"},` +
		`"nodes":[{"id":"m","type":"map","items":"state.docs","item_key":"doc","collect":"state.doc","output_key":"out",` +
		`"graph":{"entry":"t","nodes":[{"id":"t","type":"transform","set":{"doc":"upper(state.doc)"}}]}}]}`,
	`{"entry":"p","nodes":[{"id":"p","type":"parallel","branches":["x","y"],"join":"j"},{"id":"x","type":"transform","set":{"x":"1"}},` +
		`{"id":"y","type":"transform","set":{"y":"2"}},{"id":"j","type":"noop"}],"edges":[{"from":"x","to":"j"},{"from":"y","to":"j"}]}`,
	`{"entry":"h","nodes":[{"id":"h","type":"http","method":"POST","url":"https://example.com/{{ state.id }}","headers":{"X":"{{ state.k }}"},"body":{"a":"{{ state.a }}"}}]}`,
	`{"entry":"s","nodes":[{"id":"s","type":"transform","set":{"x":"filter(state.a, any(state.a, any(state.a, # < 0)))"},"timeout_seconds":0.05}]}`,
	`{"entry":"a","max_steps":3,"nodes":[{"id":"a","type":"noop"},{"id":"b","type":"noop"}],"edges":[{"from":"a","to":"b"},{"from":"b","to":"a"}]}`,
	`{"entry":"h","nodes":[{"id":"h","type":"human_input","message":"ok?","form":{"type":"object"},"timeout_seconds":60,"on_timeout":"continue","timeout_value":{}}]}`,
	`{"entry":"a","nodes":[{"id":"a","type":"teleport"}]}`,
	`{"entry":"a","nodes":[]}`,
	`{`,
	`[]`,
	`"entry: a"`,
}

var yamlSeeds = []string{
	"entry: only\nnodes:\n  - {id: only, type: transform, set: {size: \"'yaml'\"}}\n",
	"entry: r\nnodes:\n  - id: r\n    type: router\n    expr: \"state.n > 1 ? 'a' : 'b'\"\n    targets: [a, b]\n  - {id: a, type: noop}\n  - {id: b, type: noop}\n",
	"entry: a\nnodes:\n  - &n {id: a, type: noop}\n  - *n\n",
	"a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n",
	"entry: a\nnodes:\n  - id: a\n    type: transform\n    set:\n      x: \"{{ 1 }}\"\n    timeout_seconds: 1e309\n",
	"- 1\n- 2\n",
	"entry: !!binary aGk=\n",
	"? [a, b]\n: c\n",
	"",
}

// noHooks discards what the engine reports.
type noHooks struct{}

func (noHooks) Node(context.Context, *graph.Record) error                        { return nil }
func (noHooks) Commit(context.Context, *graph.Checkpoint, []*graph.Record) error { return nil }
func (noHooks) Emit(graph.Event)                                                 {}

// checkDocument saves a document as the API would. A document that is
// accepted must compile again from its stored form, and run (without
// the outside world) to an end within its bounds.
func checkDocument(t *testing.T, raw []byte) {
	spec, canonical, err := parseDefinition(raw, outbound.Public())
	if err != nil {
		return
	}
	if spec == nil || !json.Valid(canonical) {
		t.Fatalf("accepted %q but stored %q", raw, canonical)
	}
	again, canonical2, err := parseDefinition(canonical, outbound.Public())
	if err != nil {
		t.Fatalf("the stored form of %q does not load again: %v\n%s", raw, err, canonical)
	}
	if string(canonical) != string(canonical2) {
		t.Fatalf("the stored form is not stable:\n%s\n%s", canonical, canonical2)
	}
	g, problems := graph.Compile(again)
	if problems != nil {
		t.Fatalf("the stored form does not compile: %v", problems)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _ = g.Run(ctx, graph.RunParams{RunID: "fuzz", Checkpoint: g.Start(map[string]any{"n": 3, "a": []any{1.0, 2.0}}), Hooks: noHooks{}})
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("a run of %q went on for %v past its context's end", raw, d)
	}
}

func FuzzWorkflowDocumentJSON(f *testing.F) {
	for _, s := range documentSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		checkDocument(t, doc)
	})
}

func FuzzWorkflowDocumentYAML(f *testing.F) {
	for _, s := range yamlSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		raw, err := json.Marshal(doc) // YAML comes in a JSON string
		if err != nil {
			return
		}
		checkDocument(t, raw)
	})
}

func FuzzCronSpec(f *testing.F) {
	for _, s := range [][2]string{
		{"0 7 * * *", "America/New_York"}, {"*/15 9-17 * * 1-5", "Europe/Paris"}, {"30 2 * * *", "Europe/Berlin"},
		{"@daily", ""}, {"@hourly", "UTC"}, {"@every 1m", "UTC"}, {"0 0 31 2 *", "UTC"}, {"0 0 29 2 *", "Asia/Tokyo"},
		{"0 25 * * *", "UTC"}, {"0 7 * * *", "Moon/Base"}, {"0 7 * * *", "Local"}, {"0 7 * * *", "../../etc/passwd"},
		{"", ""}, {"* * * * * *", "UTC"}, {"CRON_TZ=Asia/Tokyo 0 7 * * *", "UTC"}, {"TZ=UTC", "UTC"}, {"CRON_TZ=", ""}, {"0 7 * * MON#2", "UTC"},
	} {
		f.Add(s[0], s[1])
	}
	at := time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC) // a night the clocks change in Europe
	f.Fuzz(func(t *testing.T, spec, zone string) {
		s, err := ParseSchedule(spec, zone)
		if err != nil {
			if s != nil {
				t.Fatal("a schedule and an error")
			}
			return
		}
		if strings.HasPrefix(strings.TrimSpace(spec), "@every") {
			t.Fatalf("@every was accepted: %q", spec)
		}
		prev := at
		for range 3 {
			next := s.Next(prev)
			if next.IsZero() {
				return // never fires (Feb 30)
			}
			if !next.After(prev) {
				t.Fatalf("%q in %q: next after %v is %v", spec, zone, prev, next)
			}
			if next.Location() != time.UTC {
				t.Fatalf("next is not in UTC: %v", next)
			}
			prev = next
		}
	})
}
