package config_test

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pulse-run/pulse/internal/platform/config"
)

type testBundle struct {
	env map[string]string
	fs  *flag.FlagSet
	l   *config.Loader
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	return &testBundle{env: map[string]string{}, fs: fs, l: config.Register(fs)}
}

func (b *testBundle) load(t *testing.T, args ...string) (*config.Config, error) {
	t.Helper()
	require.NoError(t, b.fs.Parse(args))
	return b.l.Load(func(k string) (string, bool) { v, ok := b.env[k]; return v, ok })
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c, err := b.load(t)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8080", c.Addr)
	require.Equal(t, "./pulse-data", c.DataDir)
	require.Equal(t, config.SQLite, c.Engine)
	require.Equal(t, filepath.Join("./pulse-data", "pulse.db"), c.SQLitePath())
	require.Empty(t, c.SecretKey, "embedded mode generates one later")
	require.Equal(t, "info", c.LogLevel)
	require.Equal(t, "json", c.LogFormat)
	require.Equal(t, int64(1<<20), c.MaxBodyBytes)
	require.True(t, c.AutoMigrate)
	require.Equal(t, 30*time.Second, c.ShutdownTimeout)
	require.Empty(t, c.CORSOrigins)
}

func TestEnvironmentThenFlags(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.env["PULSE_ADDR"] = "[::1]:9000"
	b.env["PULSE_LOG_LEVEL"] = "DEBUG"
	b.env["PULSE_CORS_ORIGINS"] = "https://a.example.com, https://b.example.com/"
	b.env["DATABASE_URL"] = "postgres://u@db/pulse"
	b.env["PULSE_SECRET_KEY"] = "0123456789abcdef0123456789abcdef"
	c, err := b.load(t, "--addr", ":7000", "--log-format", "text")
	require.NoError(t, err)
	require.Equal(t, ":7000", c.Addr, "a flag overrides the environment")
	require.Equal(t, "debug", c.LogLevel)
	require.Equal(t, "text", c.LogFormat)
	require.Equal(t, []string{"https://a.example.com", "https://b.example.com"}, c.CORSOrigins)
	require.Equal(t, config.Postgres, c.Engine)
	require.Equal(t, "postgres://u@db/pulse", c.DatabaseURL)
}

func TestSecretsFromFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(key, []byte("file-secret-0123456789abcdef012345\n"), 0o600))
	dsn := filepath.Join(dir, "dsn")
	require.NoError(t, os.WriteFile(dsn, []byte("postgres://from-file/pulse"), 0o600))

	b := setup(t)
	b.env["PULSE_SECRET_KEY_FILE"] = key
	b.env["DATABASE_URL_FILE"] = dsn
	c, err := b.load(t)
	require.NoError(t, err)
	require.Equal(t, "file-secret-0123456789abcdef012345", c.SecretKey, "trailing newline trimmed")
	require.Equal(t, "postgres://from-file/pulse", c.DatabaseURL)
}

// Each bad value is reported naming where it came from.
func TestBadValuesNameTheirSource(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		env    map[string]string
		args   []string
		source string
	}{
		{"log level", map[string]string{"PULSE_LOG_LEVEL": "loud"}, nil, "PULSE_LOG_LEVEL"},
		{"log format", map[string]string{"PULSE_LOG_FORMAT": "xml"}, nil, "PULSE_LOG_FORMAT"},
		{"addr", map[string]string{"PULSE_ADDR": "localhost"}, nil, "PULSE_ADDR"},
		{"addr flag", nil, []string{"--addr", "nohost"}, "--addr"},
		{"addr without port", map[string]string{"PULSE_ADDR": "[::1]:"}, nil, "PULSE_ADDR"},
		{"database url", map[string]string{"DATABASE_URL": "mysql://x"}, nil, "DATABASE_URL"},
		{"redis url", map[string]string{"REDIS_URL": "http://x"}, nil, "REDIS_URL"},
		{"short secret", map[string]string{"PULSE_SECRET_KEY": "short"}, nil, "PULSE_SECRET_KEY"},
		{"body size", map[string]string{"PULSE_MAX_BODY_BYTES": "lots"}, nil, "PULSE_MAX_BODY_BYTES"},
		{"tiny body size", map[string]string{"PULSE_MAX_BODY_BYTES": "10"}, nil, "PULSE_MAX_BODY_BYTES"},
		{"cors origin", map[string]string{"PULSE_CORS_ORIGINS": "app.example.com"}, nil, "PULSE_CORS_ORIGINS"},
		{"duration", map[string]string{"PULSE_SHUTDOWN_TIMEOUT": "soon"}, nil, "PULSE_SHUTDOWN_TIMEOUT"},
		{"bool", map[string]string{"PULSE_AUTO_MIGRATE": "maybe"}, nil, "PULSE_AUTO_MIGRATE"},
		{"pool size", map[string]string{"PULSE_DB_MAX_CONNS": "0"}, nil, "PULSE_DB_MAX_CONNS"},
		{"missing secret file", map[string]string{"PULSE_SECRET_KEY_FILE": "/nonexistent/key"}, nil, "PULSE_SECRET_KEY_FILE"},
		{"both secret and file", map[string]string{"PULSE_SECRET_KEY": "0123456789abcdef0123456789abcdef", "PULSE_SECRET_KEY_FILE": "/x"}, nil, "PULSE_SECRET_KEY_FILE"},
		{"oauth id without secret", map[string]string{"PULSE_OAUTH_GITHUB_CLIENT_ID": "abc"}, nil, "PULSE_OAUTH_GITHUB_CLIENT_SECRET"},
		{"oauth secret without id", map[string]string{"PULSE_OAUTH_GOOGLE_CLIENT_SECRET": "abc"}, nil, "PULSE_OAUTH_GOOGLE_CLIENT_SECRET"},
		{"cluster needs a key", map[string]string{"DATABASE_URL": "postgres://db/pulse"}, nil, "PULSE_SECRET_KEY"},
		{"unknown search provider", map[string]string{"PULSE_WEB_SEARCH_PROVIDER": "bing"}, nil, "PULSE_WEB_SEARCH_PROVIDER"},
		{"search provider without its key", map[string]string{"PULSE_WEB_SEARCH_PROVIDER": "brave", "TAVILY_API_KEY": "k"}, nil, "PULSE_WEB_SEARCH_PROVIDER"},
		{"searxng url", map[string]string{"SEARXNG_URL": "searx.local"}, nil, "SEARXNG_URL"},
		{"otlp endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, nil, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"otlp headers", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "novalue"}, nil, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"outbound allow zone", map[string]string{"PULSE_OUTBOUND_ALLOW": "fe80::1%eth0"}, nil, "PULSE_OUTBOUND_ALLOW"},
		{"outbound allow path", map[string]string{"PULSE_OUTBOUND_ALLOW": "http://x/"}, nil, "PULSE_OUTBOUND_ALLOW"},
		{"outbound allow wildcard", map[string]string{"PULSE_OUTBOUND_ALLOW": "*.internal"}, nil, "PULSE_OUTBOUND_ALLOW"},
		{"outbound allow shorthand address", map[string]string{"PULSE_OUTBOUND_ALLOW": "127.1"}, nil, "PULSE_OUTBOUND_ALLOW"},
		{"outbound allow hex address", map[string]string{"PULSE_OUTBOUND_ALLOW": "0x7f.1"}, nil, "PULSE_OUTBOUND_ALLOW"},
		{"trusted proxy name", map[string]string{"PULSE_TRUSTED_PROXIES": "proxy.local"}, nil, "PULSE_TRUSTED_PROXIES"},
		{"short metrics token", map[string]string{"PULSE_METRICS_TOKEN": "abc"}, nil, "PULSE_METRICS_TOKEN"},
		{"metrics addr", map[string]string{"PULSE_METRICS_ADDR": "9090"}, nil, "PULSE_METRICS_ADDR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			for k, v := range tc.env {
				b.env[k] = v
			}
			_, err := b.load(t, tc.args...)
			require.Error(t, err)
			var ce *config.Error
			require.ErrorAs(t, err, &ce)
			require.Equal(t, tc.source, ce.Source)
			require.Contains(t, err.Error(), "invalid "+tc.source+":")
			require.NotContains(t, err.Error(), "\n", "one line")
		})
	}
}

func TestSecretKeyGeneratedOnceWithPrivateMode(t *testing.T) {
	t.Parallel()
	c := &config.Config{DataDir: filepath.Join(t.TempDir(), "data")}
	created, err := c.LoadOrCreateSecretKey()
	require.NoError(t, err)
	require.True(t, created)
	require.GreaterOrEqual(t, len(c.SecretKey), 32)
	st, err := os.Stat(filepath.Join(c.DataDir, config.SecretKeyFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	again := &config.Config{DataDir: c.DataDir}
	created, err = again.LoadOrCreateSecretKey()
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, c.SecretKey, again.SecretKey)

	given := &config.Config{DataDir: t.TempDir(), SecretKey: "explicit-0123456789abcdef0123456789"}
	created, err = given.LoadOrCreateSecretKey()
	require.NoError(t, err)
	require.False(t, created)
	require.NoFileExists(t, filepath.Join(given.DataDir, config.SecretKeyFile), "an explicit key is never written")
}

// The README's configuration table must name every variable.
func TestREADMEListsEveryVariable(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../../README.md")
	require.NoError(t, err)
	for _, v := range config.Variables() {
		name, _, _ := strings.Cut(v[0], " ")
		require.True(t, strings.Contains(string(readme), "`"+name+"`"), "README configuration table lacks %s", name)
	}
}

func TestWebSearchProviderIsChosen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{"SEARXNG_URL": "http://searx.internal:8888/"}, "searxng"},
		{map[string]string{"BRAVE_SEARCH_API_KEY": "b", "SEARXNG_URL": "http://s"}, "brave"},
		{map[string]string{"TAVILY_API_KEY": "t", "BRAVE_SEARCH_API_KEY": "b"}, "tavily"},
		{map[string]string{"TAVILY_API_KEY": "t", "BRAVE_SEARCH_API_KEY": "b", "PULSE_WEB_SEARCH_PROVIDER": "Brave"}, "brave"},
	} {
		b := setup(t)
		for k, v := range tc.env {
			b.env[k] = v
		}
		c, err := b.load(t)
		require.NoError(t, err)
		require.Equal(t, tc.want, c.WebSearchProvider, "%v", tc.env)
	}
}

func TestOTLPEndpoints(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://collector:4318/"
	c, err := b.load(t)
	require.NoError(t, err)
	require.Equal(t, "http://collector:4318/v1/traces", c.OTLPEndpoint)
	b.env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "https://traces.example.com/ingest"
	c, err = b.load(t)
	require.NoError(t, err)
	require.Equal(t, "https://traces.example.com/ingest", c.OTLPEndpoint, "the specific variable wins")
}

func TestOutboundAllowAndTrustedProxies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.env["PULSE_OUTBOUND_ALLOW"] = "API.internal., 10.1.0.0/16 ,127.0.0.1, ::1, cafe.example, 1password.com"
	b.env["PULSE_TRUSTED_PROXIES"] = "10.0.0.0/8, 192.0.2.7"
	c, err := b.load(t)
	require.NoError(t, err)
	require.Equal(t, []string{"api.internal", "cafe.example", "1password.com"}, c.OutboundAllowHosts)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}, c.OutboundAllowPrefixes)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}, c.TrustedProxies)
}

// PULSE_ROLE (or --role) picks what a process does; the split needs
// PostgreSQL, and a misspelt role names the variable it came from.
func TestRole(t *testing.T) {
	t.Parallel()
	pg := map[string]string{"DATABASE_URL": "postgres://u@db/pulse", "PULSE_SECRET_KEY": "0123456789abcdef0123456789abcdef"}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		want    config.Role
		wantErr string
	}{
		{name: "default", want: config.RoleAll},
		{name: "env", env: map[string]string{"PULSE_ROLE": "Worker"}, want: config.RoleWorker},
		{name: "flag wins", env: map[string]string{"PULSE_ROLE": "worker"}, args: []string{"--role", "api"}, want: config.RoleAPI},
		{name: "unknown", env: map[string]string{"PULSE_ROLE": "scheduler"}, wantErr: `invalid PULSE_ROLE: "scheduler": want all, api or worker`},
		{name: "unknown flag value", args: []string{"--role", "both"}, wantErr: "invalid --role"},
		{name: "split on SQLite", env: map[string]string{"DATABASE_URL": "", "PULSE_ROLE": "api"}, wantErr: "api and worker need PostgreSQL"},
		{name: "all on SQLite", env: map[string]string{"DATABASE_URL": "", "PULSE_ROLE": "all"}, want: config.RoleAll},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			for k, v := range pg {
				b.env[k] = v
			}
			for k, v := range tc.env {
				b.env[k] = v
			}
			c, err := b.load(t, tc.args...)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, c.Role)
			require.Equal(t, tc.want != config.RoleWorker, c.Role.ServesAPI())
			require.Equal(t, tc.want != config.RoleAPI, c.Role.WorksJobs())
		})
	}
}
