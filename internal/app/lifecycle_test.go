package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/platform/logging"
)

// serving is one app served on a local port.
type serving struct {
	base   string
	stop   context.CancelFunc
	served chan error
}

func serve(t *testing.T, cfg *config.Config) *serving {
	t.Helper()
	a, err := app.New(context.Background(), cfg, logging.New(io.Discard, "warn", "json"), app.Options{HashParams: &cheapHash})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	s := &serving{base: "http://" + ln.Addr().String(), stop: stop, served: make(chan error, 1)}
	go func() { s.served <- a.Serve(ctx, ln) }()
	return s
}

// Starting and stopping the whole app 20 times in one process leaves no
// goroutine behind: every component waits for its own before the
// database closes. Each round also holds an event stream open across the
// shutdown, which must end it. Not parallel: goleak compares this
// process's goroutines, which other tests would add to.
func TestStartStopLeaksNoGoroutine(t *testing.T) {
	type variant struct {
		name string
		env  map[string]string
	}
	variants := []variant{{name: "sqlite"}}
	if os.Getenv(dbtest.EnvPostgres) != "" {
		variants = append(variants, variant{name: "postgres", env: map[string]string{"DATABASE_URL": dbtest.DatabaseURL(t, config.Postgres)}})
		if url := os.Getenv("PULSE_TEST_REDIS_URL"); url != "" {
			variants = append(variants, variant{name: "postgres+redis", env: map[string]string{
				"DATABASE_URL": dbtest.DatabaseURL(t, config.Postgres), "REDIS_URL": url}})
		}
	}
	// Keep-alive connections of this test's own client would count.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			env := map[string]string{"PULSE_DATA_DIR": t.TempDir()}
			for k, val := range v.env {
				env[k] = val
			}
			// Anything running before the first start (the test runner,
			// the PostgreSQL admin pool of dbtest) is not the app's.
			before := goleak.IgnoreCurrent()
			for round := range 20 {
				// A fresh Redis prefix: the sign-up limits per address
				// would otherwise carry over from round to round.
				env["PULSE_REDIS_PREFIX"] = "leak-" + ids.New()[24:] + ":"
				s := serve(t, testConfig(t, config.SQLite, env))
				res, err := client.Get(s.base + "/readyz")
				require.NoError(t, err)
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				require.Equal(t, http.StatusOK, res.StatusCode, "round %d: %s", round, body)

				// An open event stream (the first request of a fresh user).
				token := signUp(t, client, s.base)
				req, err := http.NewRequest(http.MethodGet, s.base+"/api/v1/events", nil)
				require.NoError(t, err)
				req.Header.Set("Authorization", "Bearer "+token)
				stream, err := client.Do(req)
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, stream.StatusCode)

				s.stop()
				require.NoError(t, <-s.served, "round %d", round)
				// The server told the stream why it ended.
				var events []string
				sc := bufio.NewScanner(stream.Body)
				for sc.Scan() {
					if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
						events = append(events, name)
					}
				}
				stream.Body.Close()
				require.Equal(t, []string{"shutdown"}, events, "round %d", round)
			}
			goleak.VerifyNone(t, before)
		})
	}
}

func signUp(t *testing.T, client *http.Client, base string) string {
	t.Helper()
	email := "leak" + ids.New()[24:] + "@example.com"
	res, err := client.Post(base+"/api/v1/auth/register", "application/json",
		strings.NewReader(`{"email":"`+email+`","password":"correct horse battery"}`))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusCreated, res.StatusCode)
	res, err = client.Post(base+"/api/v1/auth/token", "application/x-www-form-urlencoded",
		strings.NewReader("grant_type=password&username="+email+"&password=correct+horse+battery"))
	require.NoError(t, err)
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&tok))
	require.NotEmpty(t, tok.AccessToken)
	return tok.AccessToken
}

// Each role runs its own components: an api process no queue, a worker
// no realtime streams; a worker routes only the operational endpoints.
func TestRolesSplitTheComponents(t *testing.T) {
	t.Parallel()
	if os.Getenv(dbtest.EnvPostgres) == "" {
		t.Skipf("%s is not set (the role split needs PostgreSQL)", dbtest.EnvPostgres)
	}
	background := []string{"events", "durable"}
	for _, tc := range []struct {
		role       config.Role
		components []string
		routes     map[string]int // path -> status once started
	}{
		{config.RoleAll, append(background, "realtime", "queue"),
			map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/api/v1/meta": 200, "/openapi.json": 200, "/docs": 200}},
		{config.RoleAPI, append(background, "realtime"),
			map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/api/v1/meta": 200, "/openapi.json": 200, "/docs": 200}},
		{config.RoleWorker, append(background, "queue"),
			map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/api/v1/meta": 404, "/api/v1/agents": 404, "/openapi.json": 404, "/docs": 404}},
	} {
		t.Run(string(tc.role), func(t *testing.T) {
			t.Parallel()
			b := setup(t, config.Postgres, map[string]string{"PULSE_ROLE": string(tc.role)})
			require.Equal(t, tc.components, b.app.Components())
			require.NoError(t, b.app.StartQueue(context.Background()), "a no-op on an api process")
			require.Equal(t, tc.role.WorksJobs(), b.app.Queue().Running())
			for path, status := range tc.routes {
				res := get(t, b.h, path)
				require.Equal(t, status, res.Status, "%s %s: %s", tc.role, path, res.Body)
			}
			if tc.role == config.RoleAPI {
				res := get(t, b.h, "/readyz")
				require.NotContains(t, res.Body, "queue", "an api process never works the queue: not a reason to be unready")
			}
		})
	}
}
