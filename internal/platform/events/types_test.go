package events

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// The event types are part of the API: a renamed constant must be a
// deliberate, visible change here, not a side effect.
func TestTypeWireValues(t *testing.T) {
	t.Parallel()
	want := map[Type]string{
		RunCreated: "run.created", RunCompleted: "run.completed", RunFailed: "run.failed", RunCancelled: "run.cancelled",
		RunRequiresAction: "run.requires_action", RunInterrupted: "run.interrupted", RunRetrying: "run.retrying",
		RunRequeued: "run.requeued", MessageDelta: "message.delta",
		StepStarted: "step.started", StepCompleted: "step.completed", ToolCalled: "tool.called", ToolResult: "tool.result",
		ApprovalRequested: "approval.requested",
		NodeStarted:       "node.started", NodeCompleted: "node.completed", NodeFailed: "node.failed", NodeRetrying: "node.retrying",
		NodeInterrupted: "node.interrupted", StateUpdated: "state.updated",
		CancelAgentRun: "cancel", CancelWorkflowRun: "workflow.cancel",
		StreamError: "error", StreamShutdown: "shutdown", StreamReauth: "reauth",
	}
	declared := declaredTypes(t)
	require.Len(t, want, len(declared), "every constant of types.go is pinned here, and nothing else")
	for typ, wire := range want {
		require.Equal(t, wire, string(typ))
		require.Contains(t, declared, wire)
	}
}

// Every type a client can see is in docs/events.md, and the document
// names no type Pulse does not publish.
func TestTypesAreDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../../docs/events.md")
	require.NoError(t, err)
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_.]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = true
	}
	internal := map[string]bool{string(CancelAgentRun): true, string(CancelWorkflowRun): true}
	seen := map[string]bool{}
	for _, wire := range declaredTypes(t) {
		if internal[wire] {
			require.False(t, documented[wire], "%s is internal: clients never see it", wire)
			continue
		}
		require.True(t, documented[wire], "docs/events.md does not describe %s", wire)
		seen[wire] = true
	}
	for wire := range documented {
		require.True(t, seen[wire], "docs/events.md describes %s, which Pulse does not publish", wire)
	}
}

// declaredTypes reads types.go: the wire values of its Type constants.
func declaredTypes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "types.go", nil, 0)
	require.NoError(t, err)
	var out []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Type" {
				continue
			}
			for _, v := range vs.Values {
				lit := v.(*ast.BasicLit)
				s, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				out = append(out, s)
			}
		}
	}
	return out
}
