package app_test

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/httpx"
)

// secretFields name response properties that hold a secret shown once.
var secretFields = []string{"key", "secret", "recovery_codes", "access_token", "refresh_token", "ticket", "otpauth_uri"}

// notSecret are operations whose response schema has such a property that
// they never fill with a secret.
var notSecret = map[string]string{
	"create-provider-key":     "key is masked: the last 4 characters",
	"update-workflow-trigger": "the trigger's secret is only filled at creation",
}

// Finding 4 (secrets at rest): every operation whose response carries a
// one-time secret is marked httpx.OneTimeSecret, so idempotency never keeps
// its body in the clear. A new operation returning such a field fails here
// until it is marked.
func TestFinding4EveryOneTimeSecretOperationIsMarked(t *testing.T) {
	t.Parallel()
	spec := app.OpenAPI(&config.Config{})
	var found, unmarked []string
	for path, item := range spec.Paths {
		for _, op := range []*huma.Operation{item.Post, item.Put, item.Patch} {
			if op == nil || notSecret[op.OperationID] != "" || !returnsSecret(spec, op) {
				continue
			}
			found = append(found, op.OperationID)
			if !httpx.ShowsSecretOnce(op) {
				unmarked = append(unmarked, op.OperationID+" "+path)
			}
		}
	}
	sort.Strings(unmarked)
	require.Empty(t, unmarked, "operations returning a one-time secret must be registered with Metadata: httpx.OneTimeSecret()")
	for _, id := range []string{"create-api-key", "create-workflow-trigger", "create-function-tool", "enroll-totp", "confirm-totp", "create-realtime-ticket"} {
		require.Contains(t, found, id, "the walk finds the known ones")
	}
}

func returnsSecret(spec *huma.OpenAPI, op *huma.Operation) bool {
	for status, resp := range op.Responses {
		if !strings.HasPrefix(status, "2") || resp == nil {
			continue
		}
		for _, mt := range resp.Content {
			if mt != nil && hasSecretField(spec, mt.Schema, 0) {
				return true
			}
		}
	}
	return false
}

func hasSecretField(spec *huma.OpenAPI, s *huma.Schema, depth int) bool {
	if s == nil || depth > 4 {
		return false
	}
	if s.Ref != "" {
		s = spec.Components.Schemas.SchemaFromRef(s.Ref)
		if s == nil {
			return false
		}
	}
	for name, p := range s.Properties {
		if slices.Contains(secretFields, name) || hasSecretField(spec, p, depth+1) {
			return true
		}
	}
	return hasSecretField(spec, s.Items, depth+1)
}
