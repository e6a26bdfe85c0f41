// Package schema compiles and applies JSON Schemas (tool arguments,
// structured output). Compiled schemas are cached by content, since the same
// few schemas are checked on every tool call.
package schema

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Schema is a compiled JSON Schema.
type Schema struct{ s *jsonschema.Schema }

var cache sync.Map // sha256 of the schema -> *Schema

// Compile parses and compiles a schema (draft 2020-12 unless it says
// otherwise).
func Compile(raw json.RawMessage) (*Schema, error) {
	key := sha256.Sum256(raw)
	if s, ok := cache.Load(key); ok {
		return s.(*Schema), nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("schema is not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("mem://schema.json", doc); err != nil {
		return nil, err
	}
	s, err := c.Compile("mem://schema.json")
	if err != nil {
		return nil, fmt.Errorf("invalid schema: %w", err)
	}
	out := &Schema{s: s}
	cache.Store(key, out)
	return out, nil
}

// Validate checks a JSON document against the schema; the error says what
// is wrong in terms a model (or a person) can act on.
func (s *Schema) Validate(doc json.RawMessage) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not valid JSON: %w", err)
	}
	if err := s.s.Validate(v); err != nil {
		return fmt.Errorf("does not match the schema: %v", err)
	}
	return nil
}
