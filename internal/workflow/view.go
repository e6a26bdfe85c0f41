package workflow

import (
	"fmt"
	"strings"

	"github.com/pulse-run/pulse/internal/workflow/graph"
)

// WorkflowGraph is a workflow drawn: nodes and edges with stable ids for a
// layout library, and the same as a Mermaid flowchart.
type WorkflowGraph struct {
	Version int                 `json:"version"`
	Entry   string              `json:"entry"`
	Nodes   []WorkflowGraphNode `json:"nodes"`
	Edges   []WorkflowGraphEdge `json:"edges"`
	Mermaid string              `json:"mermaid"`
}

// WorkflowGraphNode is one node.
type WorkflowGraphNode struct {
	ID    string `json:"id"`
	Type  string `json:"type"`
	Label string `json:"label"`
}

// WorkflowGraphEdge is one possible hand-over.
type WorkflowGraphEdge struct {
	ID          string `json:"id"`
	Source      string `json:"source"`
	Target      string `json:"target"`
	Kind        string `json:"kind" enum:"edge,route,default,target,branch"`
	Label       string `json:"label,omitempty"`
	Conditional bool   `json:"conditional"`
}

// View draws a spec.
func View(s *graph.Spec, version int) WorkflowGraph {
	v := WorkflowGraph{Version: version, Entry: s.Entry, Nodes: []WorkflowGraphNode{}, Edges: []WorkflowGraphEdge{}}
	add := func(e WorkflowGraphEdge) {
		e.ID = fmt.Sprintf("e%d", len(v.Edges))
		v.Edges = append(v.Edges, e)
	}
	for _, n := range s.Nodes {
		v.Nodes = append(v.Nodes, WorkflowGraphNode{ID: n.ID, Type: n.Type, Label: label(n)})
		switch n.Type {
		case graph.TypeRouter:
			for _, t := range n.Targets {
				add(WorkflowGraphEdge{Source: n.ID, Target: t, Kind: "target", Label: n.Expr, Conditional: true})
			}
			for _, r := range n.Routes {
				add(WorkflowGraphEdge{Source: n.ID, Target: r.To, Kind: "route", Label: r.When, Conditional: true})
			}
			if n.Default != "" {
				add(WorkflowGraphEdge{Source: n.ID, Target: n.Default, Kind: "default", Label: "otherwise", Conditional: true})
			}
		case graph.TypeParallel:
			for _, b := range n.Branches {
				add(WorkflowGraphEdge{Source: n.ID, Target: b, Kind: "branch"})
			}
		}
	}
	for _, e := range s.Edges {
		add(WorkflowGraphEdge{Source: e.From, Target: e.To, Kind: "edge", Label: e.When, Conditional: e.When != ""})
	}
	v.Mermaid = mermaid(s, v)
	return v
}

func label(n graph.Node) string {
	switch n.Type {
	case graph.TypeAgent:
		return n.ID + " (agent)"
	case graph.TypeLLM:
		return n.ID + " (" + n.Model + ")"
	case graph.TypeTool:
		return n.ID + " (" + n.Tool + ")"
	case graph.TypeHTTP:
		m := n.Method
		if m == "" {
			m = "GET"
		}
		return n.ID + " (" + m + ")"
	}
	return n.ID
}

// mermaid renders the view as a flowchart. Node ids are prefixed, since
// Mermaid reserves words such as "end".
func mermaid(s *graph.Spec, v WorkflowGraph) string {
	var b strings.Builder
	b.WriteString("flowchart TD\n")
	b.WriteString("  __start__([start])\n")
	for _, n := range v.Nodes {
		open, close := "[", "]"
		switch n.Type {
		case graph.TypeRouter:
			open, close = "{", "}"
		case graph.TypeEnd:
			open, close = "([", "])"
		case graph.TypeHumanInput:
			open, close = "[/", "/]"
		case graph.TypeParallel, graph.TypeMap:
			open, close = "[[", "]]"
		case graph.TypeSubworkflow:
			open, close = "[(", ")]"
		}
		fmt.Fprintf(&b, "  n_%s%s\"%s\"%s\n", n.ID, open, mermaidText(n.Label), close)
	}
	if s.Entry != "" {
		fmt.Fprintf(&b, "  __start__ --> n_%s\n", s.Entry)
	}
	for _, e := range v.Edges {
		switch {
		case e.Label != "":
			fmt.Fprintf(&b, "  n_%s -.->|\"%s\"| n_%s\n", e.Source, mermaidText(e.Label), e.Target)
		case e.Kind == "branch":
			fmt.Fprintf(&b, "  n_%s ==> n_%s\n", e.Source, e.Target)
		default:
			fmt.Fprintf(&b, "  n_%s --> n_%s\n", e.Source, e.Target)
		}
	}
	return b.String()
}

// mermaidText escapes text inside a quoted Mermaid label.
func mermaidText(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "\n", " ", "|", "#124;").Replace(s)
}
