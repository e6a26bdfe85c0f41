package app_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/app/apptest"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/llm/llmtest"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
)

// contractDoc is the document `pulse openapi` prints, as a client reads it
// (JSON, not huma's Go structs).
type contractDoc struct {
	Paths      map[string]map[string]contractOp `json:"paths"`
	Components struct {
		Schemas map[string]map[string]any `json:"schemas"`
	} `json:"components"`
}

type contractOp struct {
	OperationID string   `json:"operationId"`
	Tags        []string `json:"tags"`
	Parameters  []struct {
		In       string `json:"in"`
		Required bool   `json:"required"`
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Example any `json:"example"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Content map[string]struct {
			Schema map[string]any `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

func readContract(t *testing.T) (*huma.OpenAPI, contractDoc) {
	t.Helper()
	spec := app.OpenAPI(&config.Config{})
	b, err := json.Marshal(spec)
	require.NoError(t, err)
	var doc contractDoc
	require.NoError(t, json.Unmarshal(b, &doc))
	require.NotEmpty(t, doc.Paths)
	return spec, doc
}

// resolve follows $ref to the named schema.
func (d contractDoc) resolve(s map[string]any) (map[string]any, string) {
	name := ""
	for i := 0; i < 10; i++ {
		ref, ok := s["$ref"].(string)
		if !ok {
			break
		}
		name = strings.TrimPrefix(ref, "#/components/schemas/")
		s = d.Components.Schemas[name]
	}
	return s, name
}

// types is a schema's "type", which OpenAPI 3.1 allows to be a list
// (["array", "null"] is a nullable array).
func types(s map[string]any) []string {
	switch v := s["type"].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if str, ok := x.(string); ok {
				out = append(out, str)
			}
		}
		return out
	}
	return nil
}

func isArray(s map[string]any) bool {
	for _, t := range types(s) {
		if t == "array" {
			return true
		}
	}
	return false
}

func isNullable(s map[string]any) bool {
	if n, _ := s["nullable"].(bool); n {
		return true
	}
	for _, t := range types(s) {
		if t == "null" {
			return true
		}
	}
	return false
}

// nullableArrays lists every nullable array reachable from s.
func (d contractDoc) nullableArrays(s map[string]any, where string, seen map[string]bool, found *[]string) {
	s, name := d.resolve(s)
	if name != "" {
		if seen[name] {
			return
		}
		seen[name] = true
		where = name
	}
	if s == nil {
		return
	}
	if isArray(s) && isNullable(s) {
		*found = append(*found, where)
	}
	if props, ok := s["properties"].(map[string]any); ok {
		for k, p := range props {
			if ps, ok := p.(map[string]any); ok {
				d.nullableArrays(ps, where+"."+k, seen, found)
			}
		}
	}
	if items, ok := s["items"].(map[string]any); ok {
		d.nullableArrays(items, where+"[]", seen, found)
	}
	if ap, ok := s["additionalProperties"].(map[string]any); ok {
		d.nullableArrays(ap, where+"{}", seen, found)
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		if list, ok := s[k].([]any); ok {
			for _, x := range list {
				if xs, ok := x.(map[string]any); ok {
					d.nullableArrays(xs, where, seen, found)
				}
			}
		}
	}
}

var operationIDPattern = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// noiseSuffixes are the endings Go type names give schemas; a schema named
// for its resource has none, and two schemas that differ only by one are
// one resource under two names (Event and EventOut).
var noiseSuffixes = []string{"InputBody", "OutputBody", "Body", "Out", "Output", "Input", "Item", "Request", "Response"}

// The document a typed client is generated from: every operation has a
// stable id and a tag, every schema is named for its resource, no response
// array is nullable, and the main request bodies carry a valid example.
func TestOpenAPIContract(t *testing.T) {
	t.Parallel()
	spec, doc := readContract(t)

	t.Run("operations have a unique kebab-case id and a tag", func(t *testing.T) {
		t.Parallel()
		owner := map[string]string{}
		for path, byMethod := range doc.Paths {
			for method, op := range byMethod {
				at := strings.ToUpper(method) + " " + path
				require.Regexp(t, operationIDPattern, op.OperationID, "%s: operationId %q is not a kebab-case verb-noun id", at, op.OperationID)
				require.NotContains(t, op.OperationID, "api-v1", "%s: operationId %q looks generated from the path", at, op.OperationID)
				if prev, dup := owner[op.OperationID]; dup {
					t.Errorf("operationId %q is used by both %s and %s", op.OperationID, prev, at)
				}
				owner[op.OperationID] = at
				require.NotEmpty(t, op.Tags, "%s (%s) has no tag", at, op.OperationID)
				for _, tag := range op.Tags {
					require.NotEmpty(t, strings.TrimSpace(tag), "%s has an empty tag", at)
				}
			}
		}
		require.Greater(t, len(owner), 50, "the document lists the whole API")
	})

	t.Run("schemas are named for their resource", func(t *testing.T) {
		t.Parallel()
		names := make([]string, 0, len(doc.Components.Schemas))
		for n := range doc.Components.Schemas {
			names = append(names, n)
		}
		sort.Strings(names)
		has := map[string]bool{}
		for _, n := range names {
			has[n] = true
		}
		for _, n := range names {
			for _, suf := range noiseSuffixes[:2] {
				require.False(t, strings.HasSuffix(n, suf), "schema %s is named after a Go wrapper type: add it to schemaNames in internal/app/schemas.go", n)
			}
			require.False(t, strings.HasSuffix(n, "Out"), "schema %s is named after a Go type (…Out): add it to schemaNames in internal/app/schemas.go", n)
			for _, suf := range noiseSuffixes {
				if base := strings.TrimSuffix(n, suf); base != n && has[base] {
					t.Errorf("schemas %s and %s differ only by %q: one resource, one name", base, n, suf)
				}
			}
		}
		// Every rename still applies: an entry whose Go type was renamed or
		// removed would otherwise linger, and the type's new name leak.
		used := map[string]bool{}
		for from, to := range app.SchemaNames {
			require.True(t, has[to], "schemaNames maps %s to %s, which is not in the document: the Go type was renamed or removed; update internal/app/schemas.go", from, to)
			require.False(t, used[to], "schemaNames gives two types the name %s", to)
			used[to] = true
			require.False(t, has[from], "schema %s kept its Go name although schemaNames renames it", from)
		}
	})

	t.Run("no array in a response is nullable", func(t *testing.T) {
		t.Parallel()
		var found []string
		seen := map[string]bool{}
		responses := 0
		for _, byMethod := range doc.Paths {
			for _, op := range byMethod {
				for _, res := range op.Responses {
					for _, mt := range res.Content {
						if mt.Schema != nil {
							responses++
							doc.nullableArrays(mt.Schema, op.OperationID, seen, &found)
						}
					}
				}
			}
		}
		require.Greater(t, responses, 50)
		require.Empty(t, found, "nullable arrays in responses (a client sees T[] | null)")
	})

	t.Run("main request bodies have a valid example", func(t *testing.T) {
		t.Parallel()
		for _, id := range []string{"register", "token", "create-agent", "update-agent", "run-agent", "create-task",
			"preview-schedule", "create-workflow", "run-workflow"} {
			require.Contains(t, app.RequestExamples, id, "the main operation %s has no example", id)
		}
		found := map[string]bool{}
		for _, item := range spec.Paths {
			for _, op := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Patch} {
				if op == nil {
					continue
				}
				if _, ok := app.RequestExamples[op.OperationID]; !ok {
					continue
				}
				found[op.OperationID] = true
				require.NotNil(t, op.RequestBody, "%s has an example but no request body", op.OperationID)
				mt := op.RequestBody.Content["application/json"]
				require.NotNil(t, mt, "%s has an example but no JSON body", op.OperationID)
				require.NotNil(t, mt.Example, "%s: its example is not in the document", op.OperationID)
				// Validate what a client would send: the example through JSON.
				raw, err := json.Marshal(mt.Example)
				require.NoError(t, err)
				var v any
				require.NoError(t, json.Unmarshal(raw, &v))
				res := &huma.ValidateResult{}
				huma.Validate(spec.Components.Schemas, mt.Schema, huma.NewPathBuffer([]byte{}, 0), huma.ModeWriteToServer, v, res)
				require.Empty(t, res.Errors, "%s: the example does not match the body's schema", op.OperationID)
			}
		}
		for id := range app.RequestExamples {
			require.True(t, found[id], "requestExamples names %s, which is not an operation", id)
		}
	})
}

// checkArrays fails where v holds null (or nothing, when required) for a
// property whose schema is an array, anywhere in v.
func (d contractDoc) checkArrays(t *testing.T, s map[string]any, v gjson.Result, where string) {
	t.Helper()
	s, _ = d.resolve(s)
	if s == nil || !v.Exists() {
		return
	}
	if isArray(s) {
		require.True(t, v.IsArray(), "%s is %s, not an array", where, v.Raw)
		if items, ok := s["items"].(map[string]any); ok {
			for i, x := range v.Array() {
				d.checkArrays(t, items, x, where+"["+strconv.Itoa(i)+"]")
			}
		}
		return
	}
	props, _ := s["properties"].(map[string]any)
	required := map[string]bool{}
	if list, ok := s["required"].([]any); ok {
		for _, r := range list {
			if name, ok := r.(string); ok {
				required[name] = true
			}
		}
	}
	for k, p := range props {
		ps, ok := p.(map[string]any)
		if !ok || !v.IsObject() {
			continue
		}
		field := v.Get(gjson.Escape(k))
		if rs, _ := d.resolve(ps); rs != nil && isArray(rs) && required[k] {
			require.True(t, field.Exists(), "%s.%s is missing (a required array)", where, k)
		}
		d.checkArrays(t, ps, field, where+"."+k)
	}
}

// listSetups make, for the lists under an object, that object, and return
// the path parameters that name it. A new list with a path parameter fails
// TestListItemsAreArrays until it has one here.
type listFixture struct {
	agent, run, conversation, workflow, workflowRun string
}

var listPaths = map[string]func(f listFixture) map[string]string{
	"list-agent-grants":             func(f listFixture) map[string]string { return map[string]string{"id": f.agent} },
	"list-agent-versions":           func(f listFixture) map[string]string { return map[string]string{"id": f.agent} },
	"list-run-steps":                func(f listFixture) map[string]string { return map[string]string{"id": f.run} },
	"list-conversation-messages":    func(f listFixture) map[string]string { return map[string]string{"id": f.conversation} },
	"list-workflow-runs":            func(f listFixture) map[string]string { return map[string]string{"id": f.workflow} },
	"list-workflow-triggers":        func(f listFixture) map[string]string { return map[string]string{"id": f.workflow} },
	"list-workflow-versions":        func(f listFixture) map[string]string { return map[string]string{"id": f.workflow} },
	"list-workflow-run-steps":       func(f listFixture) map[string]string { return map[string]string{"id": f.workflowRun} },
	"list-workflow-run-checkpoints": func(f listFixture) map[string]string { return map[string]string{"id": f.workflowRun} },
}

// notEmptyForNewUser are the lists a new account already has items in.
var notEmptyForNewUser = map[string]string{
	"list-tools": "the built-in tools are listed for everyone",
}

// Every list answers its items as a JSON array, [] when there are none,
// never null or missing: for every GET operation whose response has
// `items`, called as a new user (top-level lists) or on that user's new
// object (lists under one). Every other array in those responses is checked
// against the schema too.
func TestListItemsAreArrays(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		model := llmtest.New(llmtest.Say("ok"))
		b := apptest.New(t, e, nil, app.Options{Models: map[string]llm.Provider{"openai": model}})
		_, doc := readContract(t)

		// Lists at the top level come first, while the user has nothing.
		fresh := b.NewUser(t)
		type list struct {
			id, path string
			schema   map[string]any
			params   bool
		}
		var lists []list
		for path, byMethod := range doc.Paths {
			op, ok := byMethod["get"]
			if !ok {
				continue
			}
			res, ok := op.Responses["200"]
			if !ok {
				continue
			}
			mt, ok := res.Content["application/json"]
			if !ok {
				continue
			}
			s, _ := doc.resolve(mt.Schema)
			props, _ := s["properties"].(map[string]any)
			if _, ok := props["items"]; !ok {
				continue
			}
			params := false
			for _, p := range op.Parameters {
				params = params || (p.In == "path" && p.Required)
			}
			lists = append(lists, list{id: op.OperationID, path: path, schema: mt.Schema, params: params})
		}
		sort.Slice(lists, func(i, j int) bool { return lists[i].id < lists[j].id })
		require.GreaterOrEqual(t, len(lists), 15, "the document's lists")

		check := func(t *testing.T, l list, path string, wantEmpty bool) {
			res := apitest.Scenario{Method: http.MethodGet, Path: path, Auth: fresh.Token, ExpectedStatus: http.StatusOK}.Test(t, b.H)
			items := gjson.Get(res.Body, "items")
			require.True(t, items.IsArray(), "%s: items is %q in %s", l.id, items.Raw, res.Body)
			if wantEmpty {
				require.Equal(t, "[]", items.Raw, "%s: a new user has nothing here", l.id)
			}
			doc.checkArrays(t, l.schema, gjson.Parse(res.Body), l.id)
		}
		for _, l := range lists {
			if l.params {
				continue
			}
			_, notEmpty := notEmptyForNewUser[l.id]
			t.Run(l.id+"/empty", func(t *testing.T) { check(t, l, l.path, !notEmpty) })
		}

		// Then the lists under the user's own new objects.
		var f listFixture
		agent := apitest.Scenario{Method: http.MethodPost, Path: "/api/v1/agents", Auth: fresh.Token, ExpectedStatus: http.StatusCreated,
			Body: `{"name":"a","instructions":"b","model":"openai/gpt-test"}`}.Test(t, b.H)
		doc.checkArrays(t, map[string]any{"$ref": "#/components/schemas/Agent"}, gjson.Parse(agent.Body), "create-agent")
		f.agent = gjson.Get(agent.Body, "id").String()
		run := apitest.Scenario{Method: http.MethodPost, Path: "/api/v1/agents/" + f.agent + "/runs", Auth: fresh.Token, ExpectedStatus: http.StatusOK,
			Body: `{"input":"hi"}`, ExpectedJSON: map[string]any{"status": "succeeded"}}.Test(t, b.H)
		doc.checkArrays(t, map[string]any{"$ref": "#/components/schemas/Run"}, gjson.Parse(run.Body), "run-agent")
		f.run, f.conversation = gjson.Get(run.Body, "id").String(), gjson.Get(run.Body, "conversation_id").String()
		wf := apitest.Scenario{Method: http.MethodPost, Path: "/api/v1/workflows", Auth: fresh.Token, ExpectedStatus: http.StatusCreated,
			Body: `{"name":"w","definition":{"entry":"up","nodes":[{"id":"up","type":"transform","format":{"shout":"{{ upper(state.text) }}"}}]}}`}.Test(t, b.H)
		doc.checkArrays(t, map[string]any{"$ref": "#/components/schemas/Workflow"}, gjson.Parse(wf.Body), "create-workflow")
		f.workflow = gjson.Get(wf.Body, "id").String()
		wfRun := apitest.Scenario{Method: http.MethodPost, Path: "/api/v1/workflows/" + f.workflow + "/runs", Auth: fresh.Token, ExpectedStatus: http.StatusOK,
			Body: `{"input":{"text":"hello"}}`, ExpectedJSON: map[string]any{"status": "succeeded"}}.Test(t, b.H)
		doc.checkArrays(t, map[string]any{"$ref": "#/components/schemas/WorkflowRun"}, gjson.Parse(wfRun.Body), "run-workflow")
		f.workflowRun = gjson.Get(wfRun.Body, "id").String()
		for _, id := range []string{f.agent, f.run, f.conversation, f.workflow, f.workflowRun} {
			require.NotEmpty(t, id)
		}

		for _, l := range lists {
			if !l.params {
				continue
			}
			params, ok := listPaths[l.id]
			require.True(t, ok, "list %s (%s) takes a path parameter: add it to listPaths in internal/app/contract_test.go", l.id, l.path)
			t.Run(l.id, func(t *testing.T) { check(t, l, fillPath(l.path, params(f)), false) })
		}
	})
}
