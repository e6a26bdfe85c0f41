package httpx

import (
	"context"
	"net/http"
	"reflect"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// API is a huma.API that carries Pulse's per-operation defaults. Features
// register on it with Register (not huma.Register) and make sub-groups with
// Group, so the defaults reach every operation.
type API struct {
	huma.API
	maxBody int64
}

// Group returns a sub-API under prefix that keeps api's defaults.
func Group(api *API, prefix string) *API {
	return &API{API: huma.NewGroup(api.API, prefix), maxBody: api.maxBody}
}

// Register adds an operation with the configured body limit unless op sets
// its own (a file upload may allow more). huma fixes the limit when an
// operation is registered, so it cannot be applied later by a modifier.
//
// An operation that names no security scheme takes no credential; the
// document says so with an explicit empty list (security: []), which is how
// OpenAPI marks a public operation (an absent list would mean "unknown").
func Register[I, O any](api *API, op huma.Operation, h func(context.Context, *I) (*O, error)) {
	if op.MaxBodyBytes == 0 {
		op.MaxBodyBytes = api.maxBody
	}
	if op.Security == nil {
		op.Security = Public
	}
	if op.Errors == nil {
		op.Errors = likelyErrors[I](op)
	}
	huma.Register(api.API, op, h)
}

// likelyErrors are the client errors every operation of its shape can
// answer, so the document lists them (a typed client then knows the
// problem+json shape of each): 400 for a body that is not JSON, 401/403
// without a credential or the scope, 404 for an object that is not there or
// not yours. huma adds 422 (validation) and 500 to a non-empty list.
func likelyErrors[I any](op huma.Operation) []int {
	var codes []int
	t := reflect.TypeFor[I]()
	if t.Kind() == reflect.Struct {
		_, body := t.FieldByName("Body")
		_, raw := t.FieldByName("RawBody")
		if body || raw {
			codes = append(codes, http.StatusBadRequest)
		}
	}
	if len(op.Security) > 0 {
		codes = append(codes, http.StatusUnauthorized, http.StatusForbidden)
	}
	if strings.Contains(op.Path, "{") {
		codes = append(codes, http.StatusNotFound)
	}
	return codes
}

// Public is the Security of an operation that takes no credential.
var Public = []map[string][]string{}

// metaOneTimeSecret is the operation metadata key of OneTimeSecret.
const metaOneTimeSecret = "pulse.oneTimeSecret"

// OneTimeSecret is the Metadata of an operation whose response carries a
// secret shown only once (a new API key, a webhook or tool signing secret,
// a TOTP secret, recovery codes, tokens, a realtime ticket). Whatever keeps
// responses (idempotency replays) must not keep such a body in the clear.
// Set it where the operation is registered: Metadata: httpx.OneTimeSecret().
func OneTimeSecret() map[string]any { return map[string]any{metaOneTimeSecret: true} }

// ShowsSecretOnce reports whether op was registered with OneTimeSecret.
func ShowsSecretOnce(op *huma.Operation) bool {
	if op == nil {
		return false
	}
	v, _ := op.Metadata[metaOneTimeSecret].(bool)
	return v
}
