// Package graph is the workflow engine: the document a user writes (Spec),
// its validation, and the executor that runs it in super-steps, merging node
// outputs through reducers and handing a checkpoint to its caller after
// every super-step. It does no I/O of its own: storage, models, tools and
// HTTP come in through interfaces, so the engine is tested and measured
// without a database.
package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Node types.
const (
	TypeAgent       = "agent"
	TypeLLM         = "llm"
	TypeTool        = "tool"
	TypeRouter      = "router"
	TypeParallel    = "parallel"
	TypeMap         = "map"
	TypeHumanInput  = "human_input"
	TypeHTTP        = "http"
	TypeTransform   = "transform"
	TypeSubworkflow = "subworkflow"
	TypeEnd         = "end"
	// TypeNoop does nothing; it is a join point or a placeholder.
	TypeNoop = "noop"
)

// NodeTypes lists every node type, in documentation order.
var NodeTypes = []string{TypeAgent, TypeLLM, TypeTool, TypeRouter, TypeParallel, TypeMap, TypeHumanInput,
	TypeHTTP, TypeTransform, TypeSubworkflow, TypeEnd, TypeNoop}

// Reducers say how a node's update to a state key is merged.
const (
	ReduceReplace = "replace" // the default
	ReduceAppend  = "append"  // arrays: the update's items (or the update itself) are appended
	ReduceMerge   = "merge"   // objects: shallow merge, the update wins
	ReduceAdd     = "add"     // numbers: summed
)

// DefaultMaxSteps bounds super-steps when the spec does not.
const DefaultMaxSteps = 100

// Spec is a workflow document.
type Spec struct {
	// State is the JSON Schema of the state object; empty accepts anything.
	State    json.RawMessage   `json:"state,omitempty" yaml:"state,omitempty"`
	Reducers map[string]string `json:"reducers,omitempty" yaml:"reducers,omitempty"`
	Entry    string            `json:"entry" yaml:"entry"`
	Nodes    []Node            `json:"nodes" yaml:"nodes"`
	Edges    []Edge            `json:"edges,omitempty" yaml:"edges,omitempty"`
	MaxSteps int               `json:"max_steps,omitempty" yaml:"max_steps,omitempty"`
	// Durability is when a stored run's progress is written: "sync" (the
	// default) commits every super-step before the next; "exit" writes
	// only when the run ends or pauses, so a crash restarts it from its
	// start (or its last pause) but a short run costs two writes.
	Durability string `json:"durability,omitempty" yaml:"durability,omitempty"`
}

// Durability modes.
const (
	DurabilitySync = "sync"
	DurabilityExit = "exit"
)

// Edge connects two nodes. With When, it is taken only when the expression
// is true of the state after the source node's super-step.
type Edge struct {
	From string `json:"from" yaml:"from"`
	To   string `json:"to" yaml:"to"`
	When string `json:"when,omitempty" yaml:"when,omitempty"`
}

// Route is one choice of a router node.
type Route struct {
	When string `json:"when" yaml:"when"`
	To   string `json:"to" yaml:"to"`
}

// Retry is a node's retry policy for failures that may pass.
type Retry struct {
	MaxAttempts    int     `json:"max_attempts,omitempty" yaml:"max_attempts,omitempty"`
	BackoffSeconds float64 `json:"backoff_seconds,omitempty" yaml:"backoff_seconds,omitempty"`
}

// Node is one step of a workflow. Which fields apply depends on Type;
// validation rejects what does not.
type Node struct {
	ID             string  `json:"id" yaml:"id"`
	Type           string  `json:"type" yaml:"type"`
	TimeoutSeconds float64 `json:"timeout_seconds,omitempty" yaml:"timeout_seconds,omitempty"`
	Retry          *Retry  `json:"retry,omitempty" yaml:"retry,omitempty"`
	// OutputKey is the state key the node's result is written to.
	OutputKey string `json:"output_key,omitempty" yaml:"output_key,omitempty"`

	// agent: run the agent on Input (a template).
	AgentID string `json:"agent_id,omitempty" yaml:"agent_id,omitempty"`
	Input   string `json:"input,omitempty" yaml:"input,omitempty"`
	// llm: one call of Model ("provider/model") with System and Prompt
	// (templates); with Schema, the answer is JSON of that schema.
	Model  string          `json:"model,omitempty" yaml:"model,omitempty"`
	System string          `json:"system,omitempty" yaml:"system,omitempty"`
	Prompt string          `json:"prompt,omitempty" yaml:"prompt,omitempty"`
	Schema json.RawMessage `json:"schema,omitempty" yaml:"schema,omitempty"`
	// tool: call Tool with Args (string values are templates).
	Tool string         `json:"tool,omitempty" yaml:"tool,omitempty"`
	Args map[string]any `json:"args,omitempty" yaml:"args,omitempty"`
	// router: Expr yields a node id (or a list of them) among Targets, or
	// the first Route whose condition holds wins, else Default.
	Expr    string   `json:"expr,omitempty" yaml:"expr,omitempty"`
	Targets []string `json:"targets,omitempty" yaml:"targets,omitempty"`
	Routes  []Route  `json:"routes,omitempty" yaml:"routes,omitempty"`
	Default string   `json:"default,omitempty" yaml:"default,omitempty"`
	// parallel: run Branches together; Join runs once all have reached it.
	Branches []string `json:"branches,omitempty" yaml:"branches,omitempty"`
	Join     string   `json:"join,omitempty" yaml:"join,omitempty"`
	// map: run Graph once per item of Items (an expression giving a list),
	// at most Concurrency at a time, the item in state key ItemKey; Collect
	// (an expression over each final state) gives each result.
	Items       string `json:"items,omitempty" yaml:"items,omitempty"`
	ItemKey     string `json:"item_key,omitempty" yaml:"item_key,omitempty"`
	Concurrency int    `json:"concurrency,omitempty" yaml:"concurrency,omitempty"`
	Graph       *Spec  `json:"graph,omitempty" yaml:"graph,omitempty"`
	Collect     string `json:"collect,omitempty" yaml:"collect,omitempty"`
	// human_input: pause with Message and a Form (JSON Schema of the
	// answer); after TimeoutSeconds, OnTimeout applies: fail, or continue
	// with TimeoutValue.
	Message      string          `json:"message,omitempty" yaml:"message,omitempty"`
	Form         json.RawMessage `json:"form,omitempty" yaml:"form,omitempty"`
	OnTimeout    string          `json:"on_timeout,omitempty" yaml:"on_timeout,omitempty"`
	TimeoutValue json.RawMessage `json:"timeout_value,omitempty" yaml:"timeout_value,omitempty"`
	// http: Method URL (a template), Headers (templates), Body (string
	// values are templates).
	Method  string            `json:"method,omitempty" yaml:"method,omitempty"`
	URL     string            `json:"url,omitempty" yaml:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty" yaml:"headers,omitempty"`
	Body    any               `json:"body,omitempty" yaml:"body,omitempty"`
	// transform: Set maps state keys to expressions, Format maps them to
	// templates.
	Set    map[string]string `json:"set,omitempty" yaml:"set,omitempty"`
	Format map[string]string `json:"format,omitempty" yaml:"format,omitempty"`
	// subworkflow: run another workflow of the same owner (its published
	// version, or Version) with Input mapping keys to expressions.
	WorkflowID string            `json:"workflow_id,omitempty" yaml:"workflow_id,omitempty"`
	Version    int               `json:"version,omitempty" yaml:"version,omitempty"`
	With       map[string]string `json:"with,omitempty" yaml:"with,omitempty"`
}

// Parse reads a spec from JSON or YAML, refusing unknown fields so a typo
// does not silently do nothing.
func Parse(doc []byte) (*Spec, error) {
	doc = bytes.TrimSpace(doc)
	var s Spec
	if len(doc) > 0 && doc[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("not a workflow document: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return &s, nil
	}
	// YAML is converted to JSON first, so both formats obey the same rules
	// (and raw JSON fields such as schemas come out as JSON).
	var v any
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not a workflow document: %v", err)
	}
	j, err := json.Marshal(yamlToJSON(v))
	if err != nil {
		return nil, fmt.Errorf("not a workflow document: %v", err)
	}
	if len(j) == 0 || j[0] != '{' {
		return nil, fmt.Errorf("not a workflow document: expected a mapping at the top")
	}
	return Parse(j)
}

// yamlToJSON turns YAML's map[string]any (and any non-string keys) into
// values encoding/json accepts.
func yamlToJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = yamlToJSON(e)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = yamlToJSON(e)
		}
		return m
	case []any:
		for i, e := range t {
			t[i] = yamlToJSON(e)
		}
		return t
	}
	return v
}

// node returns the node with the id, or nil.
func (s *Spec) node(id string) *Node {
	for i := range s.Nodes {
		if s.Nodes[i].ID == id {
			return &s.Nodes[i]
		}
	}
	return nil
}
