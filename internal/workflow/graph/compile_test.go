package graph

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidationNamesEveryProblemWithItsPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		doc  string
		want []Problem
	}{
		{"unknown node type", `{"entry": "a", "nodes": [{"id": "a", "type": "teleport"}]}`,
			[]Problem{{"nodes[0].type", `unknown node type "teleport"`}}},
		{"missing entry", `{"nodes": [{"id": "a", "type": "noop"}]}`,
			[]Problem{{"entry", "is required: the node the workflow starts at"}}},
		{"unknown entry", `{"entry": "zz", "nodes": [{"id": "a", "type": "noop"}]}`,
			[]Problem{{"entry", `no node is named "zz"`}}},
		{"unreachable node", `{"entry": "a", "nodes": [{"id": "a", "type": "noop"}, {"id": "b", "type": "noop"}]}`,
			[]Problem{{"nodes[1]", `node "b" is unreachable from the entry "a"`}}},
		{"dangling edge", `{"entry": "a", "nodes": [{"id": "a", "type": "noop"}], "edges": [{"from": "a", "to": "ghost"}, {"from": "nope", "to": "a"}]}`,
			[]Problem{{"edges[0].to", `no node is named "ghost"`}, {"edges[1].from", `no node is named "nope"`}}},
		{"cycle with no exit", `{"entry": "a", "nodes": [{"id": "a", "type": "noop"}, {"id": "b", "type": "noop"}, {"id": "c", "type": "end"}],
		  "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "a"}, {"from": "b", "to": "c"}]}`,
			[]Problem{{"nodes[0]", `the cycle through "a", "b" has no exit condition: add a router or a conditional edge that leaves it`}}},
		{"reducer on an unknown key", `{"entry": "a", "state": {"type": "object", "properties": {"n": {"type": "integer"}}}, "reducers": {"m": "add"}, "nodes": [{"id": "a", "type": "noop"}]}`,
			[]Problem{{"reducers.m", `the state schema has no property "m"`}}},
		{"reducer that does not fit the type", `{"entry": "a", "state": {"type": "object", "properties": {"n": {"type": "string"}, "l": {"type": "integer"}, "o": {"type": "array"}}},
		  "reducers": {"n": "add", "l": "append", "o": "merge"}, "nodes": [{"id": "a", "type": "noop"}]}`,
			[]Problem{
				{"reducers.l", `reducer append needs a property of type array, but "l" is integer`},
				{"reducers.n", `reducer add needs a property of type number or integer, but "n" is string`},
				{"reducers.o", `reducer merge needs a property of type object, but "o" is array`}}},
		{"unknown reducer", `{"entry": "a", "reducers": {"n": "multiply"}, "nodes": [{"id": "a", "type": "noop"}]}`,
			[]Problem{{"reducers.n", `unknown reducer "multiply": use replace, append, merge or add`}}},
		{"bad expression", `{"entry": "a", "nodes": [{"id": "a", "type": "transform", "set": {"x": "state.n +* 2"}}]}`,
			nil},
		{"router to nowhere", `{"entry": "r", "nodes": [{"id": "r", "type": "router", "expr": "'x'", "targets": ["x"]}]}`,
			[]Problem{{"nodes[0].targets[0]", `no node is named "x"`}}},
		{"duplicate ids", `{"entry": "a", "nodes": [{"id": "a", "type": "noop"}, {"id": "a", "type": "end"}]}`,
			[]Problem{{"nodes[1].id", `another node is already named "a"`}}},
		{"branch that never joins", `{"entry": "p", "nodes": [{"id": "p", "type": "parallel", "branches": ["a", "b"], "join": "j"},
		  {"id": "a", "type": "noop"}, {"id": "b", "type": "noop"}, {"id": "j", "type": "noop"}], "edges": [{"from": "a", "to": "j"}]}`,
			[]Problem{{"nodes[0].branches[1]", `branch "b" never reaches the join "j"`}}},
		{"missing required fields", `{"entry": "a", "nodes": [{"id": "a", "type": "llm"}, {"id": "b", "type": "human_input", "on_timeout": "explode"}]}`,
			[]Problem{
				{"nodes[0].model", `is required: "provider/model"`},
				{"nodes[0].prompt", "is required: a template"},
				{"nodes[1].on_timeout", "must be fail or continue"},
				{"nodes[1].output_key", "is required: where the answer goes"},
				{"nodes[1]", `node "b" is unreachable from the entry "a"`}}},
		{"edge out of an end node", `{"entry": "e", "nodes": [{"id": "e", "type": "end"}, {"id": "b", "type": "noop"}], "edges": [{"from": "e", "to": "b"}]}`,
			[]Problem{{"edges[0].from", "an end node has no next node"}, {"nodes[1]", `node "b" is unreachable from the entry "e"`}}},
		{"map graphs are checked too", `{"entry": "m", "nodes": [{"id": "m", "type": "map", "items": "state.l", "output_key": "r",
		  "graph": {"entry": "h", "nodes": [{"id": "h", "type": "human_input", "output_key": "x"}, {"id": "q", "type": "noop"}]}}]}`,
			[]Problem{{"nodes[0].graph.nodes[1]", `node "q" is unreachable from the entry "h"`},
				{"nodes[0].graph.nodes[0].type", "a map's graph cannot wait for human input"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse([]byte(tc.doc))
			require.NoError(t, err)
			g, problems := Compile(s)
			require.Nil(t, g)
			if tc.want == nil {
				require.Len(t, problems, 1)
				require.Equal(t, "nodes[0].set.x", problems[0].Path)
				require.Contains(t, problems[0].Message, "invalid expression")
				return
			}
			require.ElementsMatch(t, tc.want, problems)
		})
	}
}

func TestAGuardedLoopIsValid(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		// a conditional back edge
		`{"entry": "a", "nodes": [{"id": "a", "type": "noop"}, {"id": "b", "type": "end"}], "edges": [{"from": "a", "to": "a", "when": "state.n < 3"}, {"from": "a", "to": "b"}]}`,
		// a router that may leave
		`{"entry": "a", "nodes": [{"id": "a", "type": "noop"}, {"id": "r", "type": "router", "expr": "'a'", "targets": ["a", "z"]}, {"id": "z", "type": "end"}], "edges": [{"from": "a", "to": "r"}]}`,
	} {
		s, err := Parse([]byte(doc))
		require.NoError(t, err)
		_, problems := Compile(s)
		require.Empty(t, problems)
	}
}

func TestParseRefusesUnknownFieldsInBothFormats(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte(`{"entry": "a", "nodez": []}`))
	require.ErrorContains(t, err, `unknown field "nodez"`)
	_, err = Parse([]byte("entry: a\nnodes:\n  - {id: a, type: noop, colour: red}\n"))
	require.ErrorContains(t, err, `unknown field "colour"`)
	_, err = Parse([]byte("- just\n- a list\n"))
	require.ErrorContains(t, err, "mapping")
	s, err := Parse([]byte("entry: a\nnodes:\n  - id: a\n    type: noop\n"))
	require.NoError(t, err)
	require.Equal(t, "a", s.Entry)
}

func TestCompileLeavesTheDocumentAsWritten(t *testing.T) {
	t.Parallel()
	s, err := Parse([]byte(`{"entry": "h", "nodes": [{"id": "h", "type": "http", "url": "https://x.test"}]}`))
	require.NoError(t, err)
	g, problems := Compile(s)
	require.Empty(t, problems)
	require.Equal(t, "", s.Nodes[0].Method)
	require.Equal(t, "GET", g.Node("h").Method)
}

// Found by FuzzWorkflowDocumentJSON: a node without an id made the cycle
// search dereference a node that was never compiled (a panic, a 500 when
// saved). It is a problem at its path like any other.
func TestANodeWithoutAnIDIsAProblem(t *testing.T) {
	t.Parallel()
	s, err := Parse([]byte(`{"entry":"a","nodes":[{"id":"a","type":"noop"},{}]}`))
	require.NoError(t, err)
	_, problems := Compile(s)
	require.Contains(t, problems, Problem{Path: "nodes[1].id", Message: "must start with a letter and hold at most 64 letters, digits, _ or -"})
}
