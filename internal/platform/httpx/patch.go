package httpx

import (
	"encoding/json"
	"reflect"

	"github.com/danielgtaylor/huma/v2"
)

// Patch is a field of a PATCH body with JSON merge-patch meaning: absent
// leaves the value alone, null clears it, anything else replaces it. A
// plain pointer cannot tell absent from null.
type Patch[T any] struct {
	Set   bool // the field was in the body
	Null  bool // it was null
	Value T
}

// UnmarshalJSON runs only for fields present in the body.
func (p *Patch[T]) UnmarshalJSON(b []byte) error {
	p.Set = true
	if string(b) == "null" {
		p.Null = true
		return nil
	}
	return json.Unmarshal(b, &p.Value)
}

// Schema is T's schema, nullable.
func (p Patch[T]) Schema(r huma.Registry) *huma.Schema {
	s := *r.Schema(reflect.TypeFor[T](), true, "")
	if s.Ref != "" {
		s = *r.SchemaFromRef(s.Ref)
	}
	s.Nullable = true
	return &s
}

// Or is the new value, or old when the field was absent. Null gives T's
// zero value.
func (p Patch[T]) Or(old T) T {
	if !p.Set {
		return old
	}
	return p.Value
}
