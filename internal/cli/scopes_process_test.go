package cli_test

import (
	"net/http"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
)

// Finding 2 of issue 13, against a real `pulse serve` over TCP: a key whose
// scopes are ["read"] cannot delete an agent or change who it is shared
// with, and the agent and its grant are still there afterwards.
func TestFinding2ReadOnlyKeyCannotWriteToServe(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		env := map[string]string{
			"PULSE_ADDR": "127.0.0.1:0", "PULSE_DATA_DIR": t.TempDir(),
			"DATABASE_URL": dbtest.DatabaseURL(t, e), "PULSE_SECRET_KEY": "scopes-test-secret-0123456789abcdef",
		}
		c := startChild(t, t.TempDir(), env, "serve")
		c.drain()
		owner, friend := signUp(t, c.base), signUp(t, c.base)
		var me struct{ ID string }
		require.Equal(t, 200, friend.do("GET", "/api/v1/users/me", "", &me))

		var agent struct{ ID string }
		require.Equal(t, 201, owner.do("POST", "/api/v1/agents", `{"name":"Planner","instructions":"Plan.","model":"openai/gpt-test"}`, &agent))
		grant := "/api/v1/agents/" + agent.ID + "/grants/" + me.ID
		require.Equal(t, 200, owner.do("PUT", grant, `{"permission":"view"}`, nil))
		var key struct{ Key string }
		require.Equal(t, 201, owner.do("POST", "/api/v1/api-keys", `{"name":"ci","scopes":["read"]}`, &key))
		read := api{t: t, base: c.base, token: key.Key}

		require.Equal(t, http.StatusForbidden, read.do("DELETE", "/api/v1/agents/"+agent.ID, "", nil))
		require.Equal(t, http.StatusForbidden, read.do("PUT", grant, `{"permission":"edit"}`, nil))
		require.Equal(t, http.StatusForbidden, read.do("DELETE", grant, "", nil))

		var got struct {
			Name    string
			Version int
		}
		require.Equal(t, 200, read.do("GET", "/api/v1/agents/"+agent.ID, "", &got), "the key still reads")
		require.Equal(t, "Planner", got.Name)
		require.Equal(t, 1, got.Version)
		var grants struct {
			Items []struct {
				UserID     string `json:"user_id"`
				Permission string `json:"permission"`
			}
		}
		require.Equal(t, 200, owner.do("GET", "/api/v1/agents/"+agent.ID+"/grants", "", &grants))
		require.Len(t, grants.Items, 1)
		require.Equal(t, me.ID, grants.Items[0].UserID)
		require.Equal(t, "view", grants.Items[0].Permission)

		require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
		require.NoError(t, c.cmd.Wait(), c.logged())
	})
}
