package httpx

import (
	"reflect"

	"github.com/danielgtaylor/huma/v2"
)

// Arrays in responses are never null: every handler answers an empty slice
// rather than nil, so the document says so too. huma's default marks every
// array nullable, which makes a generated TypeScript type `T[] | null` and
// every client check for null that can never come.
func init() { huma.DefaultArrayNullable = false }

// schemaNamer names schemas as the API's users know them. huma names a schema
// after its Go type (AgentOut) or, for an anonymous request body, after the
// type that holds it (CreateInputBody); names maps those default names to the
// resource's name (Agent, AgentCreate). A name not in names is kept, and two
// types given one name make huma refuse to start (it panics on a duplicate),
// so a clash cannot go unseen.
func schemaNamer(names map[string]string) func(reflect.Type, string) string {
	return func(t reflect.Type, hint string) string {
		n := huma.DefaultSchemaNamer(t, hint)
		if r, ok := names[n]; ok {
			return r
		}
		return n
	}
}

// NonNil is s, or an empty slice when s is nil: a response's arrays are
// never null (encoding/json writes a nil slice as null).
func NonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
