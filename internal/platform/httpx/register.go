package httpx

import (
	"context"

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
func Register[I, O any](api *API, op huma.Operation, h func(context.Context, *I) (*O, error)) {
	if op.MaxBodyBytes == 0 {
		op.MaxBodyBytes = api.maxBody
	}
	huma.Register(api.API, op, h)
}

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
