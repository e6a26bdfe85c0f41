package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/app/apptest"
	"github.com/pulse-run/pulse/internal/auth"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx/apitest"
	"github.com/pulse-run/pulse/internal/platform/ids"
)

// specOperation is one operation of the served OpenAPI document.
type specOperation struct {
	Method, Path, ID string
	Public           bool // no security requirement: callable without a credential
}

// operations reads /openapi.json from the real router and lists every
// operation, sorted, so the matrices below cover routes added later.
func operations(t *testing.T, h http.Handler) []specOperation {
	t.Helper()
	res := apitest.Scenario{Method: http.MethodGet, Path: "/openapi.json", ExpectedStatus: 200}.Test(t, h)
	var spec struct {
		Paths map[string]map[string]struct {
			OperationID string                `json:"operationId"`
			Security    []map[string][]string `json:"security"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.Body), &spec))
	var ops []specOperation
	for path, byMethod := range spec.Paths {
		for method, op := range byMethod {
			require.NotEmpty(t, op.OperationID, "%s %s has no operationId", method, path)
			ops = append(ops, specOperation{Method: strings.ToUpper(method), Path: path, ID: op.OperationID, Public: len(op.Security) == 0})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].ID < ops[j].ID })
	require.Greater(t, len(ops), 50, "the document lists the whole API")
	return ops
}

// fillPath puts a value in every path parameter: the given one if any, a
// fresh id otherwise (an object that does not exist).
func fillPath(path string, values map[string]string) string {
	for {
		i := strings.Index(path, "{")
		if i < 0 {
			return path
		}
		j := strings.Index(path[i:], "}") + i
		name := path[i+1 : j]
		v, ok := values[name]
		if !ok {
			switch name {
			case "version":
				v = "1"
			case "provider":
				v = "google"
			default:
				v = ids.New()
			}
		}
		path = path[:i] + v + path[j+1:]
	}
}

// readOnlyExempt are the only writes a key with just the read scope may
// make, each with why it is safe.
var readOnlyExempt = map[string]string{
	"create-realtime-ticket": "a ticket only opens the event stream, which reads",
	"preview-schedule":       "computes a plan and saves nothing (apply-schedule saves it)",
	"logout":                 "ends the caller's own session; an API key has none and gets 422",
	// Public operations: they take no credential, so a key's scopes do not apply.
	"register":              "public: creates an account, needs no credential",
	"token":                 "public: signs in or refreshes a token",
	"verify-email":          "public: the emailed token is the credential",
	"forgot-password":       "public: sends a reset email",
	"reset-password":        "public: the emailed token is the credential",
	"verify-mfa":            "public: the MFA challenge token is the credential",
	"call-workflow-webhook": "public: the webhook signature is the credential",
}

// writeBodies is a valid request body for every operation other than
// GET/HEAD ("" for none), so that validation passes and the scope check is
// what answers. Nothing in it needs to exist: the scope is checked before
// any lookup.
var writeBodies = map[string]string{
	"admin-update-user":       `{"active":false}`,
	"start-job":               `{"type":"agent.run","payload":{}}`,
	"create-agent":            `{"name":"a","instructions":"b","model":"openai/gpt-4o-mini"}`,
	"delete-agent":            "",
	"update-agent":            `{"name":"x"}`,
	"delete-agent-grant":      "",
	"put-agent-grant":         `{"permission":"view"}`,
	"run-agent":               `{"input":"hi"}`,
	"restore-agent-version":   "",
	"create-api-key":          `{"name":"k"}`,
	"revoke-api-key":          "",
	"unlink-identity":         "",
	"disable-totp":            `{"code":"123456"}`,
	"enroll-totp":             "",
	"confirm-totp":            `{"code":"123456"}`,
	"oauth-link":              `{}`,
	"revoke-all-sessions":     "",
	"revoke-session":          "",
	"send-verification":       "",
	"create-calendar-event":   `{"title":"e","start":"2030-01-01T10:00:00Z","end":"2030-01-01T11:00:00Z"}`,
	"delete-calendar-event":   "",
	"update-calendar-event":   `{"title":"x"}`,
	"emit-event":              `{"name":"thing.happened","data":{}}`,
	"create-mcp-server":       `{"name":"m","url":"https://mcp.example.com/"}`,
	"delete-mcp-server":       "",
	"set-planner-preferences": `{}`,
	"create-provider-key":     `{"provider":"openai","key":"sk-test-0123456789"}`,
	"delete-provider-key":     "",
	"approve-run":             "",
	"cancel-run":              "",
	"reject-run":              `{}`,
	"apply-schedule":          `{}`,
	"update-schedule-block":   `{}`,
	"create-task":             `{"title":"t","estimate_minutes":30}`,
	"delete-task":             "",
	"update-task":             `{"title":"x"}`,
	"create-function-tool":    `{"name":"f","description":"d","url":"https://tool.example.com/"}`,
	"delete-function-tool":    "",
	"delete-me":               "",
	"update-me":               `{}`,
	"change-password":         `{"current_password":"correct horse battery","new_password":"another long password"}`,
	"cancel-workflow-run":     "",
	"fork-workflow-run":       `{"checkpoint_id":"c"}`,
	"resume-workflow-run":     `{"input":"yes"}`,
	"delete-workflow-trigger": "",
	"update-workflow-trigger": `{"enabled":false}`,
	"create-workflow":         `{"name":"w","definition":{}}`,
	"delete-workflow":         "",
	"update-workflow":         `{}`,
	"publish-workflow":        `{}`,
	"rollback-workflow":       `{}`,
	"run-workflow":            `{}`,
	"create-workflow-thread":  `{}`,
	"create-workflow-trigger": `{"type":"event","event":"thing.happened"}`,
}

// Scopes are enforced in the services for every write: a key with only the
// read scope gets exactly 403 from every operation other than GET/HEAD,
// before any lookup (a 404 would mean the scope was not checked first) and
// before anything changes. A new route fails here until it is in
// writeBodies (or, with a reason, readOnlyExempt).
func TestReadOnlyKeyScopeMatrix(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := apptest.New(t, e, nil, app.Options{})
		u := b.NewUser(t)
		read := b.APIKey(t, u, "read")
		// An admin's read-only key has no more rights than a user's.
		email := "admin" + ids.New()[24:] + "@example.com"
		_, err := b.App.Auth().CreateUser(context.Background(), auth.RegisterParams{Email: email, Password: "correct horse battery", Role: "admin"})
		require.NoError(t, err)
		admin := apptest.User{Email: email, Token: signIn(t, b.H, email)}
		keys := map[string]string{"user": read, "admin": b.APIKey(t, admin, "read")}
		seen := map[string]bool{}
		for _, op := range operations(t, b.H) {
			seen[op.ID] = true
			if op.Method == http.MethodGet || op.Method == http.MethodHead {
				continue
			}
			if reason, ok := readOnlyExempt[op.ID]; ok {
				require.NotEmpty(t, reason)
				_, inBodies := writeBodies[op.ID]
				require.False(t, inBodies, "%s is both exempt and in writeBodies", op.ID)
				continue
			}
			require.False(t, op.Public, "%s %s (%s) takes no credential: either give it security or add it to readOnlyExempt with the reason", op.Method, op.Path, op.ID)
			body, ok := writeBodies[op.ID]
			require.True(t, ok, "operation %s (%s %s) is missing from writeBodies in internal/app/scopes_test.go: add %q: `<a valid JSON body, or \"\" for none>`, "+
				"and make its service call authn.RequireScope(ctx, authn.ScopeWrite) before anything else", op.ID, op.Method, op.Path, op.ID)
			t.Run(op.ID, func(t *testing.T) {
				for who, key := range keys {
					res := apitest.Scenario{ExpectedStatus: http.StatusForbidden, Method: op.Method, Path: fillPath(op.Path, nil), Auth: key, Body: body}.Test(t, b.H)
					require.Equal(t, http.StatusForbidden, res.Status, "%s's read-only key: %s %s; body: %s", who, op.Method, op.Path, res.Body)
					require.Contains(t, res.Body, `"code":"permission_denied"`)
				}
			})
		}
		for id := range writeBodies {
			require.True(t, seen[id], "writeBodies names %s, which is no longer in the OpenAPI document: remove it", id)
		}
		for id := range readOnlyExempt {
			require.True(t, seen[id], "readOnlyExempt names %s, which is no longer in the OpenAPI document: remove it", id)
		}
		// The key still reads, and the account it could have changed is intact.
		apitest.Scenario{Method: http.MethodGet, Path: "/api/v1/users/me", Auth: read, ExpectedStatus: 200, ExpectedJSON: map[string]any{"id": u.ID}}.Test(t, b.H)
	})
}
