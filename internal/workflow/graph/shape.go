package graph

import (
	"fmt"
	"slices"
)

// successors lists the nodes a node may hand over to.
func (g *Graph) successors(n *cnode) []string {
	out := g.declared(n)
	known := out[:0]
	for _, id := range out {
		if g.nodes[id] != nil {
			known = append(known, id)
		}
	}
	return known
}

func (g *Graph) declared(n *cnode) []string {
	if n == nil {
		return nil
	}
	var out []string
	switch n.Type {
	case TypeRouter:
		out = append(out, n.Targets...)
		for _, r := range n.Routes {
			out = append(out, r.To)
		}
		if n.Default != "" {
			out = append(out, n.Default)
		}
	case TypeParallel:
		out = append(out, n.Branches...)
	}
	for _, e := range n.edges {
		out = append(out, e.to)
	}
	return out
}

// shape checks the graph as a whole: every node reachable, every branch
// of a parallel reaching its join, every cycle with a way out.
func (c *compiler) shape(g *Graph, prefix string) {
	seen := g.reach(g.Spec.Entry)
	for i, n := range g.Spec.Nodes {
		if !seen[n.ID] {
			c.add(fmt.Sprintf("%snodes[%d]", prefix, i), "node %q is unreachable from the entry %q", n.ID, g.Spec.Entry)
		}
	}
	for i, n := range g.Spec.Nodes {
		if n.Type != TypeParallel {
			continue
		}
		for j, b := range n.Branches {
			if b != n.Join && !g.reach(b)[n.Join] {
				c.add(fmt.Sprintf("%snodes[%d].branches[%d]", prefix, i, j), "branch %q never reaches the join %q", b, n.Join)
			}
		}
	}
	for _, scc := range g.cycles() {
		if !g.guarded(scc) {
			first := scc[0]
			c.add(fmt.Sprintf("%snodes[%d]", prefix, g.order[first]),
				"the cycle through %s has no exit condition: add a router or a conditional edge that leaves it", quoteAll(scc))
		}
	}
}

func (g *Graph) reach(from string) map[string]bool {
	seen := map[string]bool{from: true}
	stack := []string{from}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, s := range g.successors(g.nodes[id]) {
			if !seen[s] {
				seen[s] = true
				stack = append(stack, s)
			}
		}
	}
	return seen
}

// cycles returns the strongly connected components that hold a cycle
// (Tarjan's algorithm), each in declaration order.
func (g *Graph) cycles() [][]string {
	index, low := map[string]int{}, map[string]int{}
	on := map[string]bool{}
	var stack []string
	var out [][]string
	next := 0
	var visit func(id string)
	visit = func(id string) {
		index[id], low[id] = next, next
		next++
		stack = append(stack, id)
		on[id] = true
		for _, s := range g.successors(g.nodes[id]) {
			if _, ok := index[s]; !ok {
				visit(s)
				low[id] = min(low[id], low[s])
			} else if on[s] {
				low[id] = min(low[id], index[s])
			}
		}
		if low[id] != index[id] {
			return
		}
		var scc []string
		for {
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			on[top] = false
			scc = append(scc, top)
			if top == id {
				break
			}
		}
		if len(scc) > 1 || slices.Contains(g.successors(g.nodes[id]), id) {
			slices.SortFunc(scc, func(a, b string) int { return g.order[a] - g.order[b] })
			out = append(out, scc)
		}
	}
	for _, n := range g.Spec.Nodes {
		// Nodes without a valid id are reported already and left out.
		if _, ok := index[n.ID]; !ok && g.nodes[n.ID] != nil {
			visit(n.ID)
		}
	}
	return out
}

// guarded says whether a cycle can end: some choice in it may leave it, or
// some edge in it is conditional.
func (g *Graph) guarded(scc []string) bool {
	in := map[string]bool{}
	for _, id := range scc {
		in[id] = true
	}
	for _, id := range scc {
		n := g.nodes[id]
		if n.Type == TypeRouter {
			for _, s := range g.successors(n) {
				if !in[s] {
					return true
				}
			}
		}
		for _, e := range n.edges {
			if e.when != nil {
				return true
			}
		}
	}
	return false
}
