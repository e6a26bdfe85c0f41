package app

import (
	"github.com/danielgtaylor/huma/v2"
)

// requestExamples is an example body for each main operation, by
// operationId. They are what the docs page fills "Try it out" with and what
// a client generator shows, so each is a request that works as written
// (TestOpenAPIContract validates each against its operation's schema).
var requestExamples = map[string]any{
	"register": map[string]any{"email": "ada@example.com", "password": "correct horse battery staple", "name": "Ada Lovelace"},
	"token":    map[string]any{"grant_type": "password", "username": "ada@example.com", "password": "correct horse battery staple"},
	"create-agent": map[string]any{
		"name": "Support triage", "description": "Sorts incoming support mail",
		"instructions": "Read the message and answer with its category: billing, bug or question.",
		"model":        "openai/gpt-4o-mini", "model_settings": map[string]any{"temperature": 0.2, "max_turns": 4},
		"tools": []any{map[string]any{"type": "builtin", "name": "current_time"}}, "visibility": "private", "tags": []any{"support"},
	},
	"update-agent": map[string]any{"instructions": "Answer with the category and one sentence of why.", "tags": []any{"support", "triage"}},
	"run-agent":    map[string]any{"input": "My invoice for March was charged twice.", "background": false},
	"create-task": map[string]any{
		"title": "Write the lab report", "notes": "Sections 2 and 3", "estimate_minutes": 120, "priority": "high",
		"due_at": "2030-03-14T17:00:00Z", "splittable": true, "min_block_minutes": 30, "tags": []any{"chemistry"},
	},
	"preview-schedule": map[string]any{"from": "2030-03-10T00:00:00Z", "to": "2030-03-17T00:00:00Z", "fresh": false},
	"create-workflow": map[string]any{
		"name": "Shout", "description": "Upper-cases its input's text",
		"definition": map[string]any{"entry": "up", "nodes": []any{
			map[string]any{"id": "up", "type": "transform", "format": map[string]any{"shout": "{{ upper(state.text) }}"}},
		}},
	},
	"run-workflow": map[string]any{"input": map[string]any{"text": "hello"}},
}

// addRequestExamples puts requestExamples on their operations' JSON request
// bodies. An example whose operation is missing, or has no JSON body, is a
// mistake TestOpenAPIContract reports; here it is skipped, because building
// the document must not fail at run time.
func addRequestExamples(doc *huma.OpenAPI) {
	for _, item := range doc.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Patch} {
			if op == nil || op.RequestBody == nil {
				continue
			}
			ex, ok := requestExamples[op.OperationID]
			if !ok {
				continue
			}
			if mt := op.RequestBody.Content["application/json"]; mt != nil {
				mt.Example = ex
			}
		}
	}
}
