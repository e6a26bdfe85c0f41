package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/cli"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db/dbtest"
)

// TestMain lets the test binary act as the pulse binary for process tests
// (see process_test.go): with PULSE_CLI_CHILD set it runs the command line
// given in PULSE_CLI_ARGS and exits with its code.
func TestMain(m *testing.M) {
	if os.Getenv("PULSE_CLI_CHILD") == "1" {
		var args []string
		if err := json.Unmarshal([]byte(os.Getenv("PULSE_CLI_ARGS")), &args); err != nil {
			panic(err)
		}
		os.Exit(cli.Main(args, cli.Env{AppOptions: childOptions()}))
	}
	os.Exit(m.Run())
}

type testBundle struct {
	stdout, stderr bytes.Buffer
	env            map[string]string
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	return &testBundle{env: map[string]string{"PULSE_DATA_DIR": t.TempDir(), "PULSE_LOG_LEVEL": "warn"}}
}

func (b *testBundle) run(args ...string) int {
	b.stdout.Reset()
	b.stderr.Reset()
	return cli.Run(context.Background(), args, cli.Env{
		Stdout: &b.stdout, Stderr: &b.stderr,
		LookupEnv: func(k string) (string, bool) { v, ok := b.env[k]; return v, ok },
	})
}

func TestBadConfigurationExitsTwoWithOneLine(t *testing.T) {
	t.Parallel()
	for _, cmd := range [][]string{{"serve"}, {"migrate", "status"}} {
		b := setup(t)
		b.env["PULSE_LOG_LEVEL"] = "loud"
		require.Equal(t, 2, b.run(cmd...), cmd)
		out := strings.TrimRight(b.stderr.String(), "\n")
		require.NotContains(t, out, "\n", "exactly one line: %q", out)
		require.Contains(t, out, "PULSE_LOG_LEVEL")
		require.Contains(t, out, "loud")
	}
	b := setup(t)
	require.Equal(t, 2, b.run("serve", "--max-body-bytes", "huge"))
	require.Contains(t, b.stderr.String(), "--max-body-bytes")
}

func TestUsage(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.Equal(t, 2, b.run())
	require.Contains(t, b.stderr.String(), "Usage:")
	require.Equal(t, 2, b.run("frobnicate"))
	require.Contains(t, b.stderr.String(), `unknown command "frobnicate"`)
	require.Equal(t, 0, b.run("--help"))
	require.Contains(t, b.stdout.String(), "pulse migrate up|down|status")

	for _, cmd := range []string{"serve", "migrate", "openapi", "version"} {
		require.Equal(t, 0, b.run(cmd, "--help"), cmd)
		require.Contains(t, b.stdout.String(), "Usage: pulse "+cmd, cmd)
	}
	require.Contains(t, b.run2("serve", "--help"), "-no-migrate")
	require.Contains(t, b.run2("serve", "--help"), "(env PULSE_ADDR)")
	require.Equal(t, 2, b.run("serve", "--no-such-flag"))
	require.Equal(t, 2, b.run("migrate", "sideways"))
	require.Equal(t, 2, b.run("serve", "extra-arg"))
}

func (b *testBundle) run2(args ...string) string { b.run(args...); return b.stdout.String() }

func TestVersionAndOpenAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.Equal(t, 0, b.run("version"))
	require.True(t, strings.HasPrefix(b.stdout.String(), "pulse dev "), b.stdout.String())

	require.Equal(t, 0, b.run("openapi"))
	var spec map[string]any
	require.NoError(t, json.Unmarshal(b.stdout.Bytes(), &spec))
	require.Equal(t, "3.1.0", spec["openapi"])
	require.Contains(t, spec["paths"], "/api/v1/meta")
	require.NoDirExists(t, b.env["PULSE_DATA_DIR"]+"/x", "openapi opens nothing")
}

func TestMigrateCommands(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t)
		b.env["DATABASE_URL"] = dbtest.DatabaseURL(t, e)
		b.env["PULSE_SECRET_KEY"] = "cli-test-secret-0123456789abcdef0123"

		require.Equal(t, 0, b.run("migrate", "status"), b.stderr.String())
		require.Contains(t, b.stdout.String(), "pending")
		require.Contains(t, b.stdout.String(), "queue (river) version 0 of")

		require.Equal(t, 0, b.run("migrate", "up"), b.stderr.String())
		require.Equal(t, 0, b.run("migrate", "status"), b.stderr.String())
		require.NotContains(t, b.stdout.String(), "pending")
		require.Contains(t, b.stdout.String(), "applied")
		require.Contains(t, b.stdout.String(), "up to date")

		// Flags after the action work too.
		dir := b.env["PULSE_DATA_DIR"]
		delete(b.env, "PULSE_DATA_DIR")
		require.Equal(t, 0, b.run("migrate", "status", "--data-dir", dir), b.stderr.String())
		require.Equal(t, 2, b.run("migrate", "status", "extra"))
		b.env["PULSE_DATA_DIR"] = dir

		require.Equal(t, 0, b.run("migrate", "down"), b.stderr.String())
		require.Contains(t, b.stdout.String(), "rolled back")
		require.Equal(t, 0, b.run("migrate", "status"), b.stderr.String())
		require.Contains(t, b.stdout.String(), "pending")
	})
}

// Helpers for process tests.

func getStatus(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(res.Body)
	return res.StatusCode, buf.String()
}

func TestUserCreateAndKeysRotate(t *testing.T) {
	t.Parallel()
	dbtest.EachEngine(t, func(t *testing.T, e config.Engine) {
		b := setup(t)
		b.env["DATABASE_URL"] = dbtest.DatabaseURL(t, e)
		b.env["PULSE_SECRET_KEY"] = "cli-test-secret-0123456789abcdef0123"
		run := func(stdin string, args ...string) int {
			b.stdout.Reset()
			b.stderr.Reset()
			return cli.Run(context.Background(), args, cli.Env{Stdin: strings.NewReader(stdin), Stdout: &b.stdout, Stderr: &b.stderr,
				LookupEnv: func(k string) (string, bool) { v, ok := b.env[k]; return v, ok }})
		}
		require.Equal(t, 0, run("an admin password\n", "user", "create", "--email", "Root@Example.com", "--admin"), b.stderr.String())
		require.Contains(t, b.stdout.String(), "created admin user root@example.com")
		require.Equal(t, 1, run("an admin password\n", "user", "create", "--email", "root@example.com"))
		require.Contains(t, b.stderr.String(), "already exists")
		require.Equal(t, 1, run("short\n", "user", "create", "--email", "x@example.com"))
		require.Contains(t, b.stderr.String(), "at least 10 characters")
		require.Equal(t, 2, run("", "user", "create", "--email", "x@example.com"))
		require.Equal(t, 2, run("pw pw pw pw pw\n", "user", "create"))
		require.Equal(t, 2, run("", "user", "delete"))

		require.Equal(t, 0, run("", "keys", "rotate"), b.stderr.String())
		require.Regexp(t, `new vault key \S+ \(\d+ secrets re-encrypted\); new signing key \S+`, b.stdout.String())
		require.Equal(t, 2, run("", "keys"))
	})
}
