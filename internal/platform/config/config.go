// Package config turns environment variables and command-line flags into one
// validated Config. The Config is built once at start and passed to whatever
// needs it; nothing reads the environment after that.
//
// Every setting has an environment variable; secrets also accept NAME_FILE
// (the path of a file holding the value, as Docker and Kubernetes secrets are
// mounted). A flag, when given, overrides the environment. A bad value is
// reported as an *Error naming the variable or flag it came from.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Engine is the storage engine the configuration selects.
type Engine string

const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// Role is what one `pulse serve` process does (PULSE_ROLE, --role). A
// cluster splits the HTTP API from the work: its api processes enqueue,
// its worker processes work.
type Role string

const (
	// RoleAll serves the API and works jobs: one process does everything.
	RoleAll Role = "all"
	// RoleAPI serves HTTP and enqueues jobs, but works none: no queue
	// workers, no periodic-job leader.
	RoleAPI Role = "api"
	// RoleWorker works jobs and may be elected periodic-job leader; its
	// HTTP listener serves only /healthz, /readyz and /metrics.
	RoleWorker Role = "worker"
)

// Roles are the valid roles, in the order help text lists them.
var Roles = []Role{RoleAll, RoleAPI, RoleWorker}

// ServesAPI reports whether a process of this role serves the HTTP API.
func (r Role) ServesAPI() bool { return r == RoleAll || r == RoleAPI }

// WorksJobs reports whether a process of this role works queued jobs.
func (r Role) WorksJobs() bool { return r == RoleAll || r == RoleWorker }

// Config is the whole validated configuration of one process.
type Config struct {
	Addr         string
	DataDir      string
	DatabaseURL  string // empty on SQLite
	Engine       Engine
	Role         Role
	DBMaxConns   int
	RedisURL     string
	RedisPrefix  string
	SecretKey    string // may be filled later by LoadOrCreateSecretKey on SQLite
	LogLevel     string
	LogFormat    string
	CORSOrigins  []string
	MaxBodyBytes int64

	AutoMigrate       bool
	ShutdownTimeout   time.Duration
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration

	QueueWorkers        int
	MaintenanceInterval time.Duration
	TriggerInterval     time.Duration // how often due cron triggers are looked for
	PlannerDebounce     time.Duration // how long a background re-plan waits after the last change

	// Runs: how long a silent worker keeps a run before another takes it,
	// and how long a run may take in all.
	RunLease   time.Duration
	RunTimeout time.Duration
	// Realtime connections (SSE and WebSocket) one user may hold open per
	// process.
	RealtimeMaxPerUser int

	// OAuth holds the client credentials of each enabled sign-in provider
	// (google, github, microsoft).
	OAuth           map[string]OAuthClient
	MicrosoftTenant string

	// Platform model provider credentials (a user's own key wins).
	OpenAIAPIKey     string
	OpenAIBaseURL    string
	OllamaBaseURL    string
	AnthropicAPIKey  string
	AnthropicBaseURL string
	GeminiAPIKey     string
	PricesFile       string

	// Web search for the web_search tool: the provider in use (empty: off)
	// and each provider's credential.
	WebSearchProvider string
	TavilyAPIKey      string
	BraveSearchAPIKey string
	SearXNGURL        string

	// OpenTelemetry: spans are exported over OTLP/HTTP when an endpoint is set.
	OTLPEndpoint string // the traces URL (…/v1/traces)
	OTLPHeaders  map[string]string
	ServiceName  string

	PublicURL      string // how clients reach this server; the token issuer
	AppURL         string // the web app, for links in email
	SMTPURL        string
	MailFrom       string
	AccessTokenTTL time.Duration
	SessionTTL     time.Duration

	// OutboundAllow admits private destinations for calls to the outside
	// (private deployments, tests): host names and CIDR prefixes that the
	// outbound-address policy lets through although they are not public.
	OutboundAllowHosts    []string
	OutboundAllowPrefixes []netip.Prefix
	// TrustedProxies are the peers whose X-Forwarded-For / Forwarded headers
	// are believed when finding a client's address.
	TrustedProxies []netip.Prefix
	// Metrics protection: a bearer token /metrics requires, or a separate
	// listener that serves /metrics instead of the main one.
	MetricsToken string
	MetricsAddr  string
}

// OAuthClient is an OAuth app registered with a provider.
type OAuthClient struct {
	ID     string
	Secret string
}

// SQLitePath is where the embedded database lives.
func (c *Config) SQLitePath() string { return filepath.Join(c.DataDir, "pulse.db") }

// Error is a bad configuration value. Source is the variable or flag name.
type Error struct {
	Source string
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("invalid %s: %s", e.Source, e.Msg) }

// setting describes one configuration value: where it comes from and how it
// is parsed into the Config.
type setting struct {
	env    string
	flag   string // empty: no flag
	secret bool   // accepts env+"_FILE"
	def    string
	usage  string
	apply  func(c *Config, v string) error
}

var settings = []setting{
	{env: "PULSE_ADDR", flag: "addr", def: "127.0.0.1:8080", usage: "HTTP listen address (host:port)", apply: func(c *Config, v string) error {
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			return fmt.Errorf("%q: want host:port, e.g. 127.0.0.1:8080 or [::1]:8080", v)
		}
		c.Addr = v
		return nil
	}},
	{env: "PULSE_DATA_DIR", flag: "data-dir", def: "./pulse-data", usage: "directory for the SQLite file and generated secrets", apply: func(c *Config, v string) error {
		if strings.TrimSpace(v) == "" {
			return errors.New("must not be empty")
		}
		c.DataDir = v
		return nil
	}},
	{env: "DATABASE_URL", flag: "database-url", secret: true, usage: "empty for embedded SQLite, or postgres://… for PostgreSQL", apply: func(c *Config, v string) error {
		switch {
		case v == "":
			c.Engine = SQLite
		case strings.HasPrefix(v, "postgres://"), strings.HasPrefix(v, "postgresql://"):
			if _, err := url.Parse(v); err != nil {
				return errors.New("not a valid URL")
			}
			c.Engine, c.DatabaseURL = Postgres, v
		default:
			return errors.New("must be empty (embedded SQLite) or start with postgres://")
		}
		return nil
	}},
	{env: "PULSE_ROLE", flag: "role", def: string(RoleAll), usage: "what this process does: all, api (serves HTTP and enqueues, works no jobs) or worker (works jobs, elects the periodic leader, serves only /healthz, /readyz and /metrics)",
		apply: func(c *Config, v string) error {
			for _, r := range Roles {
				if Role(strings.ToLower(v)) == r {
					c.Role = r
					return nil
				}
			}
			return fmt.Errorf("%q: want all, api or worker", v)
		}},
	{env: "PULSE_DB_MAX_CONNS", flag: "db-max-conns", def: "10", usage: "PostgreSQL connection pool size", apply: intIn(2, 1000, func(c *Config, n int) { c.DBMaxConns = n })},
	{env: "REDIS_URL", flag: "redis-url", secret: true, usage: "optional redis:// URL (cluster fan-out, rate limits)", apply: func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			return errors.New("must be a redis:// or rediss:// URL")
		}
		c.RedisURL = v
		return nil
	}},
	{env: "PULSE_REDIS_PREFIX", def: "pulse:", usage: "prefix of every Redis key, so deployments can share a Redis", apply: func(c *Config, v string) error {
		if v == "" || len(v) > 64 || strings.ContainsAny(v, " \t\n") {
			return fmt.Errorf("%q: want 1 to 64 characters without spaces", v)
		}
		c.RedisPrefix = v
		return nil
	}},
	{env: "PULSE_SECRET_KEY", secret: true, usage: "root secret (>= 32 characters); generated into the data dir on SQLite when unset", apply: func(c *Config, v string) error {
		if v != "" && len(v) < 32 {
			return fmt.Errorf("must be at least 32 characters (got %d)", len(v))
		}
		c.SecretKey = v
		return nil
	}},
	{env: "PULSE_LOG_LEVEL", flag: "log-level", def: "info", usage: "debug, info, warn or error", apply: oneOf(func(c *Config, v string) { c.LogLevel = v }, "debug", "info", "warn", "error")},
	{env: "PULSE_LOG_FORMAT", flag: "log-format", def: "json", usage: "json or text", apply: oneOf(func(c *Config, v string) { c.LogFormat = v }, "json", "text")},
	{env: "PULSE_CORS_ORIGINS", flag: "cors-origins", usage: "comma-separated allowed browser origins (empty: no cross-origin access)", apply: func(c *Config, v string) error {
		c.CORSOrigins = nil
		for _, o := range strings.Split(v, ",") {
			o = strings.TrimSpace(o)
			if o == "" {
				continue
			}
			if o != "*" {
				u, err := url.Parse(o)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
					return fmt.Errorf("%q is not an origin like https://app.example.com", o)
				}
			}
			c.CORSOrigins = append(c.CORSOrigins, strings.TrimSuffix(o, "/"))
		}
		return nil
	}},
	{env: "PULSE_MAX_BODY_BYTES", flag: "max-body-bytes", def: "1048576", usage: "largest accepted request body in bytes", apply: func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1024 {
			return fmt.Errorf("%q: want a whole number of bytes >= 1024", v)
		}
		c.MaxBodyBytes = n
		return nil
	}},
	{env: "PULSE_AUTO_MIGRATE", def: "true", usage: "apply migrations when serve starts (serve --no-migrate turns it off)", apply: func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q: want true or false", v)
		}
		c.AutoMigrate = b
		return nil
	}},
	{env: "PULSE_SHUTDOWN_TIMEOUT", flag: "shutdown-timeout", def: "30s", usage: "how long shutdown waits for in-flight requests and jobs", apply: duration(func(c *Config, d time.Duration) { c.ShutdownTimeout = d })},
	{env: "PULSE_HTTP_READ_HEADER_TIMEOUT", def: "10s", usage: "time allowed to read request headers", apply: duration(func(c *Config, d time.Duration) { c.ReadHeaderTimeout = d })},
	{env: "PULSE_HTTP_READ_TIMEOUT", def: "60s", usage: "time allowed to read a whole request", apply: duration(func(c *Config, d time.Duration) { c.ReadTimeout = d })},
	{env: "PULSE_HTTP_WRITE_TIMEOUT", def: "120s", usage: "time allowed to write a response (streams extend it themselves)", apply: duration(func(c *Config, d time.Duration) { c.WriteTimeout = d })},
	{env: "PULSE_HTTP_IDLE_TIMEOUT", def: "120s", usage: "keep-alive idle timeout", apply: duration(func(c *Config, d time.Duration) { c.IdleTimeout = d })},
	{env: "PULSE_QUEUE_WORKERS", flag: "queue-workers", def: "100", usage: "concurrent background jobs (agent runs mostly wait on models) per process", apply: intIn(1, 10000, func(c *Config, n int) { c.QueueWorkers = n })},
	{env: "PULSE_TRIGGER_INTERVAL", def: "5s", usage: "how often due cron triggers of workflows are looked for (their resolution is a minute)", apply: duration(func(c *Config, d time.Duration) { c.TriggerInterval = d })},
	{env: "PULSE_PLANNER_DEBOUNCE", def: "2s", usage: "how long the background re-plan waits after the last change to tasks, events or preferences", apply: duration(func(c *Config, d time.Duration) { c.PlannerDebounce = d })},
	{env: "PULSE_MAINTENANCE_INTERVAL", def: "10m", usage: "how often expired rows are pruned", apply: duration(func(c *Config, d time.Duration) { c.MaintenanceInterval = d })},
	{env: "PULSE_PUBLIC_URL", flag: "public-url", usage: "the URL clients use to reach Pulse (default http://PULSE_ADDR); issuer of its tokens", apply: func(c *Config, v string) error {
		if v == "" {
			c.PublicURL = "http://" + c.Addr
			return nil
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("%q: want a base URL like https://api.example.com", v)
		}
		c.PublicURL = strings.TrimSuffix(v, "/")
		return nil
	}},
	{env: "PULSE_APP_URL", flag: "app-url", usage: "the web app's base URL, for links in email (default PULSE_PUBLIC_URL)", apply: func(c *Config, v string) error {
		if v == "" {
			c.AppURL = c.PublicURL
			return nil
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%q: want a URL like https://app.example.com", v)
		}
		c.AppURL = strings.TrimSuffix(v, "/")
		return nil
	}},
	{env: "PULSE_SMTP_URL", secret: true, usage: "smtp://user:pass@host:587 (STARTTLS), smtps://…:465, or smtp://host:25?tls=none; empty: email goes to the log and $PULSE_DATA_DIR/outbox", apply: func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			return errors.New("must be an smtp:// or smtps:// URL")
		}
		c.SMTPURL = v
		return nil
	}},
	{env: "PULSE_MAIL_FROM", def: "Pulse <noreply@localhost>", usage: "sender of Pulse's email", apply: func(c *Config, v string) error {
		if _, err := mail.ParseAddress(v); err != nil {
			return fmt.Errorf("%q: want an address like Pulse <noreply@example.com>", v)
		}
		c.MailFrom = v
		return nil
	}},
	oauthID("google"), oauthSecret("google"),
	oauthID("github"), oauthSecret("github"),
	oauthID("microsoft"), oauthSecret("microsoft"),
	{env: "PULSE_OAUTH_MICROSOFT_TENANT", def: "common", usage: "Microsoft tenant: common, organizations, consumers or a tenant id", apply: func(c *Config, v string) error {
		c.MicrosoftTenant = v
		return nil
	}},
	{env: "OPENAI_API_KEY", secret: true, usage: "platform key for openai/… models", apply: func(c *Config, v string) error {
		c.OpenAIAPIKey = v
		return nil
	}},
	{env: "OPENAI_BASE_URL", usage: "OpenAI-compatible API base URL (default https://api.openai.com/v1)", apply: baseURL(func(c *Config, v string) { c.OpenAIBaseURL = v })},
	{env: "ANTHROPIC_API_KEY", secret: true, usage: "platform key for anthropic/… models", apply: func(c *Config, v string) error {
		c.AnthropicAPIKey = v
		return nil
	}},
	{env: "ANTHROPIC_BASE_URL", usage: "Anthropic API base URL (default https://api.anthropic.com)", apply: baseURL(func(c *Config, v string) { c.AnthropicBaseURL = v })},
	{env: "GEMINI_API_KEY", secret: true, usage: "platform key for gemini/… models (Gemini API)", apply: func(c *Config, v string) error {
		c.GeminiAPIKey = v
		return nil
	}},
	{env: "OLLAMA_BASE_URL", usage: "Ollama server, e.g. http://127.0.0.1:11434; enables ollama/… models", apply: baseURL(func(c *Config, v string) { c.OllamaBaseURL = v })},
	{env: "OTEL_EXPORTER_OTLP_ENDPOINT", usage: "OTLP/HTTP collector base URL, e.g. http://127.0.0.1:4318; runs, steps and provider calls are exported as spans to …/v1/traces",
		apply: baseURL(func(c *Config, v string) {
			if c.OTLPEndpoint == "" {
				c.OTLPEndpoint = v + "/v1/traces"
			}
		})},
	{env: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", usage: "full OTLP/HTTP traces URL; wins over OTEL_EXPORTER_OTLP_ENDPOINT",
		apply: baseURL(func(c *Config, v string) { c.OTLPEndpoint = v })},
	{env: "OTEL_EXPORTER_OTLP_HEADERS", secret: true, usage: "headers sent with each export, as key=value,key2=value2 (e.g. an API key)", apply: func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		c.OTLPHeaders = map[string]string{}
		for _, kv := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(kv, "=")
			k = strings.TrimSpace(k)
			if !ok || k == "" {
				return errors.New("want key=value pairs separated by commas")
			}
			if dec, err := url.QueryUnescape(strings.TrimSpace(val)); err == nil {
				val = dec
			}
			c.OTLPHeaders[k] = val
		}
		return nil
	}},
	{env: "OTEL_SERVICE_NAME", def: "pulse", usage: "service.name of the exported spans", apply: func(c *Config, v string) error {
		c.ServiceName = v
		return nil
	}},
	{env: "PULSE_WEB_SEARCH_PROVIDER", usage: "web_search tool backend: tavily, brave or searxng (default: the one whose key or URL is set)",
		apply: func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			return oneOf(func(c *Config, v string) { c.WebSearchProvider = v }, "tavily", "brave", "searxng")(c, v)
		}},
	{env: "TAVILY_API_KEY", secret: true, usage: "Tavily key; enables web_search through Tavily", apply: func(c *Config, v string) error {
		c.TavilyAPIKey = v
		return nil
	}},
	{env: "BRAVE_SEARCH_API_KEY", secret: true, usage: "Brave Search API key; enables web_search through Brave", apply: func(c *Config, v string) error {
		c.BraveSearchAPIKey = v
		return nil
	}},
	{env: "SEARXNG_URL", usage: "a SearXNG instance with the JSON format enabled; enables web_search through it", apply: baseURL(func(c *Config, v string) { c.SearXNGURL = v })},
	{env: "PULSE_PRICES_FILE", usage: "JSON price table (micro-credits per million tokens) overriding the built-in one", apply: func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		if _, err := os.Stat(v); err != nil {
			return fmt.Errorf("%q: cannot read it", v)
		}
		c.PricesFile = v
		return nil
	}},
	{env: "PULSE_RUN_LEASE", def: "15s", usage: "a run whose worker is silent this long is resumed by another (heartbeats every fifth of it)", apply: duration(func(c *Config, d time.Duration) { c.RunLease = d })},
	{env: "PULSE_RUN_TIMEOUT", def: "30m", usage: "a run's deadline from its creation; later it fails with deadline_exceeded", apply: duration(func(c *Config, d time.Duration) { c.RunTimeout = d })},
	{env: "PULSE_REALTIME_MAX_CONNECTIONS", def: "20", usage: "open SSE/WebSocket connections per user and process", apply: intIn(1, 1_000_000, func(c *Config, n int) { c.RealtimeMaxPerUser = n })},
	{env: "PULSE_ACCESS_TOKEN_TTL", def: "15m", usage: "access token lifetime", apply: duration(func(c *Config, d time.Duration) { c.AccessTokenTTL = d })},
	{env: "PULSE_OUTBOUND_ALLOW", usage: "comma-separated host names and CIDRs that outbound calls may reach although they are not public (private deployments)", apply: func(c *Config, v string) error {
		c.OutboundAllowHosts, c.OutboundAllowPrefixes = nil, nil
		for _, e := range strings.Split(v, ",") {
			e = strings.ToLower(strings.TrimSpace(e))
			if e == "" {
				continue
			}
			if pfx, ok := parsePrefix(e); ok {
				c.OutboundAllowPrefixes = append(c.OutboundAllowPrefixes, pfx)
				continue
			}
			if strings.ContainsAny(e, "/%[]: *\t") || strings.Trim(e, ".") == "" {
				return fmt.Errorf("%q: want a host name (api.internal) or a CIDR (10.1.0.0/16, 10.1.2.3); names match exactly, without wildcards", e)
			}
			if numericHost(e) {
				// 127.1 or 0x7f.1 would be kept as a name that never
				// matches: say so rather than fail closed in silence.
				return fmt.Errorf("%q: write an address in full (127.0.0.1) or as a CIDR", e)
			}
			c.OutboundAllowHosts = append(c.OutboundAllowHosts, strings.TrimSuffix(e, "."))
		}
		return nil
	}},
	{env: "PULSE_TRUSTED_PROXIES", usage: "comma-separated CIDRs of reverse proxies whose X-Forwarded-For / Forwarded headers name the client (empty: trust none)", apply: func(c *Config, v string) error {
		c.TrustedProxies = nil
		for _, e := range strings.Split(v, ",") {
			e = strings.TrimSpace(e)
			if e == "" {
				continue
			}
			pfx, ok := parsePrefix(e)
			if !ok {
				return fmt.Errorf("%q: want a CIDR like 10.0.0.0/8 or an address", e)
			}
			c.TrustedProxies = append(c.TrustedProxies, pfx)
		}
		return nil
	}},
	{env: "PULSE_METRICS_TOKEN", secret: true, usage: "when set, /metrics requires Authorization: Bearer <token>", apply: func(c *Config, v string) error {
		if v != "" && len(v) < 16 {
			return fmt.Errorf("must be at least 16 characters (got %d)", len(v))
		}
		c.MetricsToken = v
		return nil
	}},
	{env: "PULSE_METRICS_ADDR", usage: "when set, /metrics is served on this separate host:port instead of the main listener", apply: func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			return fmt.Errorf("%q: want host:port, e.g. 127.0.0.1:9090", v)
		}
		c.MetricsAddr = v
		return nil
	}},
	{env: "PULSE_SESSION_TTL", def: "720h", usage: "how long a session can be refreshed without signing in again", apply: duration(func(c *Config, d time.Duration) { c.SessionTTL = d })},
}

// numericHost reports whether every label of a host is a number (decimal,
// octal or 0x hex): a shorthand address such as 127.1, not a name.
func numericHost(h string) bool {
	for _, l := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		digits := strings.TrimPrefix(l, "0x")
		if digits == "" || strings.Trim(digits, "0123456789abcdef") != "" || (digits == l && strings.Trim(l, "0123456789") != "") {
			return false
		}
	}
	return true
}

// parsePrefix reads a CIDR or a single address (as its /32 or /128). Zoned
// addresses are refused: a zone names an interface, not a network.
func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "%") {
		return netip.Prefix{}, false
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

func baseURL(set func(*Config, string)) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%q: want an http(s) URL", v)
		}
		set(c, strings.TrimSuffix(v, "/"))
		return nil
	}
}

func oauthID(provider string) setting {
	env := "PULSE_OAUTH_" + strings.ToUpper(provider) + "_CLIENT_ID"
	return setting{env: env, usage: "enables sign-in with " + provider + " (with the client secret)", apply: func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		if c.OAuth == nil {
			c.OAuth = map[string]OAuthClient{}
		}
		c.OAuth[provider] = OAuthClient{ID: v}
		return nil
	}}
}

func oauthSecret(provider string) setting {
	env := "PULSE_OAUTH_" + strings.ToUpper(provider) + "_CLIENT_SECRET"
	return setting{env: env, secret: true, usage: provider + " OAuth client secret", apply: func(c *Config, v string) error {
		cl, ok := c.OAuth[provider]
		switch {
		case ok && v == "":
			return errors.New("required when the client id is set")
		case !ok && v != "":
			return errors.New("set the client id too")
		case ok:
			cl.Secret = v
			c.OAuth[provider] = cl
		}
		return nil
	}}
}

// Loader binds the settings to a FlagSet so a subcommand can parse its
// arguments, then combines flags with the environment.
type Loader struct {
	fs    *flag.FlagSet
	flags map[string]*string
}

// Register adds a flag for every setting that has one. A nil fs reads the
// environment only.
func Register(fs *flag.FlagSet) *Loader {
	l := &Loader{fs: fs, flags: map[string]*string{}}
	if fs == nil {
		return l // environment only
	}
	for _, s := range settings {
		if s.flag == "" {
			continue
		}
		usage := s.usage + " (env " + s.env + ")"
		l.flags[s.flag] = fs.String(s.flag, "", usage)
	}
	return l
}

// Load builds the Config from defaults, then the environment, then flags that
// were set on the command line. lookupEnv is os.LookupEnv outside tests.
func (l *Loader) Load(lookupEnv func(string) (string, bool)) (*Config, error) {
	set := map[string]bool{}
	if l.fs != nil {
		l.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	}
	c := &Config{}
	for _, s := range settings {
		raw, source := s.def, s.env
		if v, ok := lookupEnv(s.env); ok {
			raw = v
		}
		if s.secret {
			if path, ok := lookupEnv(s.env + "_FILE"); ok && path != "" {
				if v, ok := lookupEnv(s.env); ok && v != "" {
					return nil, &Error{Source: s.env + "_FILE", Msg: "set either " + s.env + " or " + s.env + "_FILE, not both"}
				}
				b, err := os.ReadFile(path)
				if err != nil {
					return nil, &Error{Source: s.env + "_FILE", Msg: fmt.Sprintf("cannot read %s: %v", path, errors.Unwrap(err))}
				}
				raw, source = strings.TrimSpace(string(b)), s.env+"_FILE"
			}
		}
		if s.flag != "" && set[s.flag] {
			raw, source = *l.flags[s.flag], "--"+s.flag
		}
		if err := s.apply(c, strings.TrimSpace(raw)); err != nil {
			return nil, &Error{Source: source, Msg: err.Error()}
		}
	}
	if c.Engine == Postgres && c.SecretKey == "" {
		return nil, &Error{Source: "PULSE_SECRET_KEY", Msg: "required with PostgreSQL: every process of a cluster must share the same key (or set PULSE_SECRET_KEY_FILE)"}
	}
	if c.Role != RoleAll && c.Engine != Postgres {
		// An embedded install is one process: its events and cancel relay
		// stay in that process, so a second one would never hear them.
		return nil, &Error{Source: "PULSE_ROLE", Msg: "api and worker need PostgreSQL (DATABASE_URL): on SQLite one process does everything (all)"}
	}
	if err := c.chooseWebSearch(); err != nil {
		return nil, err
	}
	return c, nil
}

// chooseWebSearch settles which search API web_search uses: the one named,
// which must then have its credential, or the first one configured.
func (c *Config) chooseWebSearch() error {
	have := map[string]bool{"tavily": c.TavilyAPIKey != "", "brave": c.BraveSearchAPIKey != "", "searxng": c.SearXNGURL != ""}
	need := map[string]string{"tavily": "TAVILY_API_KEY", "brave": "BRAVE_SEARCH_API_KEY", "searxng": "SEARXNG_URL"}
	if c.WebSearchProvider != "" {
		if !have[c.WebSearchProvider] {
			return &Error{Source: "PULSE_WEB_SEARCH_PROVIDER", Msg: c.WebSearchProvider + " needs " + need[c.WebSearchProvider]}
		}
		return nil
	}
	for _, p := range []string{"tavily", "brave", "searxng"} {
		if have[p] {
			c.WebSearchProvider = p
			return nil
		}
	}
	return nil
}

// Variables lists every environment variable with its default and meaning,
// for help output and the README's table.
func Variables() [][3]string {
	out := make([][3]string, 0, len(settings))
	for _, s := range settings {
		name := s.env
		if s.secret {
			name += " (or _FILE)"
		}
		out = append(out, [3]string{name, s.def, s.usage})
	}
	return out
}

func oneOf(set func(*Config, string), allowed ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		v = strings.ToLower(v)
		for _, a := range allowed {
			if v == a {
				set(c, v)
				return nil
			}
		}
		return fmt.Errorf("%q: must be one of %s", v, strings.Join(allowed, ", "))
	}
}

func intIn(lo, hi int, set func(*Config, int)) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%q: want a whole number from %d to %d", v, lo, hi)
		}
		set(c, n)
		return nil
	}
}

func duration(set func(*Config, time.Duration)) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("%q: want a positive duration like 30s or 5m", v)
		}
		set(c, d)
		return nil
	}
}
