package graph

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"

	"github.com/expr-lang/expr/vm"

	"github.com/pulse-run/pulse/internal/platform/schema"
)

// Problem is one thing wrong with a spec, at a path inside it
// ("nodes[2].targets[0]").
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Graph is a compiled, valid spec, ready to run many times concurrently.
type Graph struct {
	Spec     *Spec
	nodes    map[string]*cnode
	order    map[string]int // declaration order, for deterministic merges
	reducers map[string]string
	state    *schema.Schema // nil: no schema
	maxSteps int
}

type cnode struct {
	*Node
	edges   []cedge
	input   *template // agent input, llm prompt
	system  *template
	url     *template
	headers map[string]*template
	args    *valueTemplate // tool args, http body
	expr    *vm.Program    // router expression, map items
	routes  []croute
	set     map[string]*vm.Program
	format  map[string]*template
	with    map[string]*vm.Program
	collect *vm.Program
	sub     *Graph // map body
	form    *schema.Schema
}

type cedge struct {
	to   string
	when *vm.Program
}

type croute struct {
	when *vm.Program
	to   string
}

var idPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// Compile checks a spec and compiles its expressions. It reports every
// problem it finds, not just the first.
func Compile(s *Spec) (*Graph, []Problem) {
	c := &compiler{}
	g := c.graph(s, "")
	if len(c.problems) > 0 {
		return nil, c.problems
	}
	return g, nil
}

type compiler struct{ problems []Problem }

func (c *compiler) add(path, format string, args ...any) {
	c.problems = append(c.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (c *compiler) graph(s *Spec, prefix string) *Graph {
	g := &Graph{Spec: s, nodes: map[string]*cnode{}, order: map[string]int{}, reducers: map[string]string{}, maxSteps: s.MaxSteps}
	if g.maxSteps == 0 {
		g.maxSteps = DefaultMaxSteps
	}
	if s.MaxSteps < 0 || s.MaxSteps > 10_000 {
		c.add(prefix+"max_steps", "must be between 1 and 10,000")
	}
	switch s.Durability {
	case "", DurabilitySync, DurabilityExit:
	default:
		c.add(prefix+"durability", "must be sync or exit")
	}
	props := c.stateSchema(g, s, prefix)
	c.reducers(g, s, props, prefix)

	if len(s.Nodes) == 0 {
		c.add(prefix+"nodes", "a workflow needs at least one node")
	}
	if len(s.Nodes) > 500 {
		c.add(prefix+"nodes", "at most 500 nodes")
	}
	for i := range s.Nodes {
		n := &s.Nodes[i]
		path := fmt.Sprintf("%snodes[%d]", prefix, i)
		switch {
		case !idPattern.MatchString(n.ID):
			c.add(path+".id", "must start with a letter and hold at most 64 letters, digits, _ or -")
		case g.nodes[n.ID] != nil:
			c.add(path+".id", "another node is already named %q", n.ID)
		default:
			cp := *n // defaults are filled in on the copy, never in the user's document
			g.nodes[n.ID] = &cnode{Node: &cp}
			g.order[n.ID] = i
		}
	}
	if s.Entry == "" {
		c.add(prefix+"entry", "is required: the node the workflow starts at")
	} else if g.nodes[s.Entry] == nil {
		c.add(prefix+"entry", "no node is named %q", s.Entry)
	}
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if cn := g.nodes[n.ID]; cn != nil && g.order[n.ID] == i {
			c.node(g, cn, fmt.Sprintf("%snodes[%d]", prefix, i))
		}
	}
	for i, e := range s.Edges {
		c.edge(g, i, e, prefix)
	}
	// Shape problems are reported with the others; edges to unknown
	// nodes are left out of the shape, already reported as dangling.
	if g.nodes[s.Entry] != nil {
		c.shape(g, prefix)
	}
	return g
}

// stateSchema compiles the state schema and returns its declared
// properties' types (nil when it declares none).
func (c *compiler) stateSchema(g *Graph, s *Spec, prefix string) map[string]string {
	if len(s.State) == 0 || string(s.State) == "null" {
		return nil
	}
	var doc struct {
		Type       any                        `json:"type"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(s.State, &doc); err != nil {
		c.add(prefix+"state", "must be a JSON Schema object")
		return nil
	}
	if doc.Type != nil && doc.Type != "object" {
		c.add(prefix+"state.type", "the state is an object")
	}
	sch, err := schema.Compile(s.State)
	if err != nil {
		c.add(prefix+"state", "invalid JSON Schema: %v", err)
		return nil
	}
	g.state = sch
	if doc.Properties == nil {
		return nil
	}
	props := make(map[string]string, len(doc.Properties))
	for k, raw := range doc.Properties {
		var p struct {
			Type any `json:"type"`
		}
		_ = json.Unmarshal(raw, &p)
		t, _ := p.Type.(string)
		props[k] = t
	}
	return props
}

// fits says which schema types each reducer works on.
var fits = map[string][]string{
	ReduceReplace: nil,
	ReduceAppend:  {"array"},
	ReduceMerge:   {"object"},
	ReduceAdd:     {"number", "integer"},
}

func (c *compiler) reducers(g *Graph, s *Spec, props map[string]string, prefix string) {
	for _, k := range sortedKeys(s.Reducers) {
		r := s.Reducers[k]
		path := prefix + "reducers." + k
		types, known := fits[r]
		if !known {
			c.add(path, "unknown reducer %q: use replace, append, merge or add", r)
			continue
		}
		if props != nil {
			t, declared := props[k]
			if !declared {
				c.add(path, "the state schema has no property %q", k)
				continue
			}
			if types != nil && t != "" && !slices.Contains(types, t) {
				c.add(path, "reducer %s needs a property of type %s, but %q is %s", r, joinOr(types), k, t)
				continue
			}
		}
		g.reducers[k] = r
	}
}

func (c *compiler) expr(path, src string) *vm.Program {
	p, err := compileExpr(src)
	if err != nil {
		c.add(path, "%v", err)
	}
	return p
}

func (c *compiler) tmpl(path, src string) *template {
	t, err := compileTemplate(src)
	if err != nil {
		c.add(path, "%v", err)
	}
	return t
}

func (c *compiler) ref(g *Graph, path, id string) {
	if id == "" {
		c.add(path, "is required")
	} else if g.nodes[id] == nil {
		c.add(path, "no node is named %q", id)
	}
}

func (c *compiler) require(path, v, what string) bool {
	if v == "" {
		c.add(path, "is required: %s", what)
		return false
	}
	return true
}

func (c *compiler) node(g *Graph, n *cnode, path string) {
	if n.TimeoutSeconds < 0 || n.TimeoutSeconds > 86_400 {
		c.add(path+".timeout_seconds", "must be between 0 and 86,400")
	}
	if r := n.Retry; r != nil {
		if r.MaxAttempts < 0 || r.MaxAttempts > 10 {
			c.add(path+".retry.max_attempts", "must be between 1 and 10")
		}
		if r.BackoffSeconds < 0 || r.BackoffSeconds > 3600 {
			c.add(path+".retry.backoff_seconds", "must be between 0 and 3,600")
		}
	}
	switch n.Type {
	case TypeAgent:
		c.require(path+".agent_id", n.AgentID, "the agent to run")
		if c.require(path+".input", n.Input, "the agent's input, a template") {
			n.input = c.tmpl(path+".input", n.Input)
		}
	case TypeLLM:
		c.require(path+".model", n.Model, `"provider/model"`)
		if c.require(path+".prompt", n.Prompt, "a template") {
			n.input = c.tmpl(path+".prompt", n.Prompt)
		}
		if n.System != "" {
			n.system = c.tmpl(path+".system", n.System)
		}
		if len(n.Schema) > 0 {
			if _, err := schema.Compile(n.Schema); err != nil {
				c.add(path+".schema", "invalid JSON Schema: %v", err)
			}
		}
	case TypeTool:
		c.require(path+".tool", n.Tool, "the tool's name")
		if v, err := compileValue(anyMap(n.Args)); err != nil {
			c.add(path+".args", "%v", err)
		} else {
			n.args = v
		}
	case TypeRouter:
		c.router(g, n, path)
	case TypeParallel:
		if len(n.Branches) < 2 {
			c.add(path+".branches", "a parallel node needs at least two branches")
		}
		for i, b := range n.Branches {
			c.ref(g, fmt.Sprintf("%s.branches[%d]", path, i), b)
		}
		c.ref(g, path+".join", n.Join)
	case TypeMap:
		if c.require(path+".items", n.Items, "an expression giving the list") {
			n.expr = c.expr(path+".items", n.Items)
		}
		if n.Concurrency < 0 || n.Concurrency > 100 {
			c.add(path+".concurrency", "must be between 1 and 100")
		}
		if n.ItemKey == "" {
			n.ItemKey = "item"
		}
		if n.Collect != "" {
			n.collect = c.expr(path+".collect", n.Collect)
		}
		if n.Graph == nil {
			c.add(path+".graph", "is required: the graph run for each item")
		} else {
			n.sub = c.graph(n.Graph, path+".graph.")
			for i, sn := range n.Graph.Nodes {
				if sn.Type == TypeHumanInput {
					c.add(fmt.Sprintf("%s.graph.nodes[%d].type", path, i), "a map's graph cannot wait for human input")
				}
			}
		}
		c.require(path+".output_key", n.OutputKey, "where the list of results goes")
	case TypeHumanInput:
		if len(n.Form) > 0 {
			f, err := schema.Compile(n.Form)
			if err != nil {
				c.add(path+".form", "invalid JSON Schema: %v", err)
			}
			n.form = f
		}
		switch n.OnTimeout {
		case "", "fail":
		case "continue":
			if len(n.TimeoutValue) == 0 {
				c.add(path+".timeout_value", "is required with on_timeout continue")
			} else if n.form != nil {
				if err := n.form.Validate(n.TimeoutValue); err != nil {
					c.add(path+".timeout_value", "does not fit the form: %v", err)
				}
			}
		default:
			c.add(path+".on_timeout", "must be fail or continue")
		}
		c.require(path+".output_key", n.OutputKey, "where the answer goes")
	case TypeHTTP:
		switch n.Method {
		case "":
			n.Method = "GET"
		case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD":
		default:
			c.add(path+".method", "must be GET, POST, PUT, PATCH, DELETE or HEAD")
		}
		if c.require(path+".url", n.URL, "a template") {
			n.url = c.tmpl(path+".url", n.URL)
		}
		n.headers = map[string]*template{}
		for _, k := range sortedKeys(n.Headers) {
			n.headers[k] = c.tmpl(path+".headers."+k, n.Headers[k])
		}
		if n.Body != nil {
			if v, err := compileValue(n.Body); err != nil {
				c.add(path+".body", "%v", err)
			} else {
				n.args = v
			}
		}
	case TypeTransform:
		if len(n.Set) == 0 && len(n.Format) == 0 {
			c.add(path, "a transform needs set or format")
		}
		n.set, n.format = map[string]*vm.Program{}, map[string]*template{}
		for _, k := range sortedKeys(n.Set) {
			n.set[k] = c.expr(path+".set."+k, n.Set[k])
		}
		for _, k := range sortedKeys(n.Format) {
			n.format[k] = c.tmpl(path+".format."+k, n.Format[k])
		}
	case TypeSubworkflow:
		c.require(path+".workflow_id", n.WorkflowID, "the workflow to run")
		if n.Version < 0 {
			c.add(path+".version", "must be positive (or 0: the published version)")
		}
		n.with = map[string]*vm.Program{}
		for _, k := range sortedKeys(n.With) {
			n.with[k] = c.expr(path+".with."+k, n.With[k])
		}
	case TypeEnd, TypeNoop:
	case "":
		c.add(path+".type", "is required")
	default:
		c.add(path+".type", "unknown node type %q", n.Type)
	}
	if n.OutputKey != "" && n.Type != TypeMap && n.Type != TypeHumanInput && !outputs(n.Type) {
		c.add(path+".output_key", "a %s node writes no output", n.Type)
	}
}

// outputs says whether a node type writes its result to output_key.
func outputs(typ string) bool {
	switch typ {
	case TypeAgent, TypeLLM, TypeTool, TypeHTTP, TypeSubworkflow, TypeMap, TypeHumanInput:
		return true
	}
	return false
}

func (c *compiler) router(g *Graph, n *cnode, path string) {
	switch {
	case n.Expr != "" && len(n.Routes) > 0:
		c.add(path, "a router takes expr with targets, or routes, not both")
	case n.Expr != "":
		n.expr = c.expr(path+".expr", n.Expr)
		if len(n.Targets) == 0 {
			c.add(path+".targets", "list every node the expression may choose")
		}
		for i, t := range n.Targets {
			c.ref(g, fmt.Sprintf("%s.targets[%d]", path, i), t)
		}
	case len(n.Routes) > 0:
		for i, r := range n.Routes {
			rp := fmt.Sprintf("%s.routes[%d]", path, i)
			if c.require(rp+".when", r.When, "a condition") {
				n.routes = append(n.routes, croute{when: c.expr(rp+".when", r.When), to: r.To})
			}
			c.ref(g, rp+".to", r.To)
		}
	default:
		c.add(path, "a router needs expr with targets, or routes")
	}
	if n.Default != "" {
		c.ref(g, path+".default", n.Default)
	}
}

func (c *compiler) edge(g *Graph, i int, e Edge, prefix string) {
	path := fmt.Sprintf("%sedges[%d]", prefix, i)
	c.ref(g, path+".from", e.From)
	c.ref(g, path+".to", e.To)
	from := g.nodes[e.From]
	if from == nil || g.nodes[e.To] == nil {
		return
	}
	switch from.Type {
	case TypeEnd:
		c.add(path+".from", "an end node has no next node")
		return
	case TypeRouter:
		c.add(path+".from", "a router's next nodes are its targets or routes, not edges")
		return
	case TypeParallel:
		c.add(path+".from", "a parallel node's next nodes are its branches")
		return
	}
	ce := cedge{to: e.To}
	if e.When != "" {
		ce.when = c.expr(path+".when", e.When)
	}
	from.edges = append(from.edges, ce)
}
