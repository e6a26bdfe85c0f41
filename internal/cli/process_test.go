package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/llm/providers"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
	"github.com/pulse-run/pulse/internal/platform/httpx"
)

type slowInput struct {
	MS int `query:"ms"`
}

type slowOutput struct {
	Body struct {
		Slept int `json:"slept_ms"`
	}
}

// childOptions gives the child process a deliberately slow operation.
// With PULSE_TEST_REAL_PROVIDERS=1 its models are the real providers the
// configuration enables (OPENAI_BASE_URL pointing at a local fake), as in
// cmd/pulse; otherwise an in-process fake.
func childOptions() app.Options {
	// Workflow http nodes reach the test's own local servers through
	// PULSE_OUTBOUND_ALLOW in the child's environment, as an operator would.
	opts := app.Options{Models: childModel(), Routes: func(api *httpx.API) {
		httpx.Register(api, huma.Operation{OperationID: "test-slow", Method: http.MethodGet, Path: "/test/slow"},
			func(ctx context.Context, in *slowInput) (*slowOutput, error) {
				time.Sleep(time.Duration(in.MS) * time.Millisecond)
				out := &slowOutput{}
				out.Body.Slept = in.MS
				return out, nil
			})
	}}
	if os.Getenv("PULSE_TEST_REAL_PROVIDERS") == "1" {
		opts.Models, opts.ModelsFromConfig = nil, providers.FromConfig
	}
	return opts
}

// child is a running pulse process (this test binary in child mode).
type child struct {
	cmd     *exec.Cmd
	base    string // http://host:port
	metrics string // the URL of /metrics, wherever it is served
	// components are what the process runs, in start order (its role's).
	components []string
	lines      chan string
	log        *strings.Builder
	mu         sync.Mutex
	draining   bool
}

// startChild runs `pulse <args>` in dir with exactly env (nothing inherited
// but PATH and HOME) and waits until it logs that it is ready.
func startChild(t *testing.T, dir string, env map[string]string, args ...string) *child {
	t.Helper()
	a, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = []string{"PULSE_CLI_CHILD=1", "PULSE_CLI_ARGS=" + string(a), "PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	c := &child{cmd: cmd, lines: make(chan string, 100), log: &strings.Builder{}}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	deadline := time.After(30 * time.Second)
	for c.base == "" {
		select {
		case l, ok := <-c.lines:
			require.True(t, ok, "child exited before ready:\n%s", c.log.String())
			c.log.WriteString(l + "\n")
			var rec struct {
				Msg        string   `json:"msg"`
				Addr       string   `json:"addr"`
				Metrics    string   `json:"metrics"`
				Components []string `json:"components"`
			}
			if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "pulse is ready" {
				c.base, c.metrics, c.components = rec.Addr, rec.Metrics, rec.Components
			}
		case <-deadline:
			t.Fatalf("child not ready in time:\n%s", c.log.String())
		}
	}
	return c
}

// wait drains the log and returns the exit code.
func (c *child) wait(t *testing.T) int {
	t.Helper()
	done := make(chan struct{})
	go func() {
		for l := range c.lines {
			c.log.WriteString(l + "\n")
		}
		close(done)
	}()
	<-done
	err := c.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	require.NoError(t, err)
	return 0
}

// A fresh directory, no variables: serve creates the data dir and database
// and becomes ready.
func TestServeFromNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := startChild(t, dir, nil, "serve", "--addr", "127.0.0.1:0")
	status, body := getStatus(t, c.base+"/readyz")
	require.Equal(t, http.StatusOK, status, body)
	require.FileExists(t, filepath.Join(dir, "pulse-data", "pulse.db"))
	st, err := os.Stat(filepath.Join(dir, "pulse-data", config.SecretKeyFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	status, _ = getStatus(t, c.base+"/docs")
	require.Equal(t, http.StatusOK, status)

	require.NoError(t, c.cmd.Process.Signal(syscall.SIGINT))
	require.Equal(t, 0, c.wait(t), c.log.String())
	require.Contains(t, c.log.String(), "generated a secret key")
}

// SIGTERM during a slow request: the request completes, new connections are
// refused, and the process exits 0.
func TestGracefulShutdownOnSIGTERM(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		env := map[string]string{
			"PULSE_ADDR": "127.0.0.1:0", "PULSE_DATA_DIR": t.TempDir(),
			"DATABASE_URL": dbtest.DatabaseURL(t, e), "PULSE_SECRET_KEY": "shutdown-test-secret-0123456789abcdef",
		}
		c := startChild(t, t.TempDir(), env, "serve")

		type result struct {
			status int
			body   string
			err    error
		}
		done := make(chan result, 1)
		go func() {
			res, err := http.Get(c.base + "/api/v1/test/slow?ms=2000")
			if err != nil {
				done <- result{err: err}
				return
			}
			defer res.Body.Close()
			b, err := io.ReadAll(res.Body)
			done <- result{status: res.StatusCode, body: string(b), err: err}
		}()
		// Wait until the request is in flight (the server counts it).
		require.Eventually(t, func() bool {
			_, m := getStatus(t, c.base+"/metrics")
			return strings.Contains(m, "pulse_http_requests_in_flight 2") // the slow one and this scrape
		}, 10*time.Second, 20*time.Millisecond)

		sent := time.Now()
		require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
		r := <-done
		require.NoError(t, r.err)
		require.Equal(t, http.StatusOK, r.status)
		require.JSONEq(t, `{"slept_ms":2000}`, r.body)

		code := c.wait(t)
		require.Equal(t, 0, code, c.log.String())
		require.Less(t, time.Since(sent), 15*time.Second)
		log := c.log.String()
		require.Less(t, strings.Index(log, `"msg":"shutting down"`), strings.Index(log, `"path":"/api/v1/test/slow"`),
			"the slow request finished after shutdown began:\n%s", log)
		_, err := http.Get(c.base + "/healthz")
		require.Error(t, err, "no longer accepting connections")
	})
}

// Exit code 1 (not 2) when the configuration is fine but starting fails.
func TestServeFailsOnBusyPort(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := startChild(t, dir, nil, "serve", "--addr", "127.0.0.1:0")
	port := c.base[strings.LastIndex(c.base, ":")+1:]
	_, err := strconv.Atoi(port)
	require.NoError(t, err)

	b := setup(t)
	b.env["PULSE_ADDR"] = "127.0.0.1:" + port
	require.Equal(t, 1, b.run("serve"))
	require.Contains(t, b.stderr.String(), "PULSE_ADDR")
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, c.wait(t))
}
