// Package app wires Pulse together: it is the only package that knows every
// feature. It builds the services from a validated config.Config, serves HTTP
// and works jobs until its context ends, then shuts down in order.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"

	"github.com/pulse-run/pulse/internal/agent"
	"github.com/pulse-run/pulse/internal/auth"
	"github.com/pulse-run/pulse/internal/job"
	"github.com/pulse-run/pulse/internal/llm"
	"github.com/pulse-run/pulse/internal/planner"
	"github.com/pulse-run/pulse/internal/platform/audit"
	"github.com/pulse-run/pulse/internal/platform/buildinfo"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/durable"
	"github.com/pulse-run/pulse/internal/platform/events"
	"github.com/pulse-run/pulse/internal/platform/httpx"
	"github.com/pulse-run/pulse/internal/platform/idempotency"
	"github.com/pulse-run/pulse/internal/platform/ids"
	"github.com/pulse-run/pulse/internal/platform/kv"
	"github.com/pulse-run/pulse/internal/platform/mail"
	"github.com/pulse-run/pulse/internal/platform/outbound"
	"github.com/pulse-run/pulse/internal/platform/queue"
	"github.com/pulse-run/pulse/internal/platform/ratelimit"
	"github.com/pulse-run/pulse/internal/platform/telemetry"
	"github.com/pulse-run/pulse/internal/platform/vault"
	"github.com/pulse-run/pulse/internal/providerkey"
	"github.com/pulse-run/pulse/internal/realtime"
	"github.com/pulse-run/pulse/internal/run"
	"github.com/pulse-run/pulse/internal/tool"
	"github.com/pulse-run/pulse/internal/workflow"
)

const apiDescription = "Pulse is the whole backend of an AI-agent product in one binary. " +
	"Errors are application/problem+json (RFC 9457) and carry the request id."

// Options are for tests and embedding; the zero value is production.
type Options struct {
	// Routes adds extra operations to /api/v1 (tests use it for a slow
	// handler, a panicking one…).
	Routes func(v1 *httpx.API)
	// JobTypes are the background task types POST /agent/run accepts
	// besides "agent" (features register theirs; tests add their own).
	JobTypes []job.Type
	// HashParams overrides argon2id's cost (tests use cheap parameters).
	HashParams *auth.HashParams
	// AuthLimits overrides the auth rate limits.
	AuthLimits *auth.Limits
	// OAuthProviders replace configured providers of the same name (tests
	// point them at a local fake).
	OAuthProviders []*auth.Provider
	// Models adds model providers by name ("openai", …); tests use
	// in-process fakes.
	Models map[string]llm.Provider
	// ModelsFromConfig builds the real providers (cmd/pulse passes
	// providers.FromConfig); left nil, the heavy SDKs are not linked, which
	// keeps most test binaries small.
	ModelsFromConfig func(*config.Config) map[string]llm.Provider
	// ProviderFactory builds providers from users' own keys (cmd/pulse
	// passes providers.FromKey).
	ProviderFactory providerkey.Factory
}

// providers builds the sign-in providers enabled by the configuration.
func providers(cfg *config.Config, opts Options) []*auth.Provider {
	byName := map[string]*auth.Provider{}
	for name, cl := range cfg.OAuth {
		switch name {
		case "google":
			byName[name] = auth.GoogleProvider(cl.ID, cl.Secret)
		case "github":
			byName[name] = auth.GitHubProvider(cl.ID, cl.Secret)
		case "microsoft":
			byName[name] = auth.MicrosoftProvider(cl.ID, cl.Secret, cfg.MicrosoftTenant)
		}
	}
	for _, p := range opts.OAuthProviders {
		byName[p.Name] = p
	}
	out := make([]*auth.Provider, 0, len(byName))
	for _, p := range byName {
		out = append(out, p)
	}
	return out
}

func (o Options) hashParams() auth.HashParams {
	if o.HashParams != nil {
		return *o.HashParams
	}
	return auth.DefaultHashParams
}

func (o Options) authLimits() auth.Limits {
	if o.AuthLimits != nil {
		return *o.AuthLimits
	}
	return auth.DefaultLimits
}

// App is one running Pulse process.
type App struct {
	cfg      *config.Config
	log      *slog.Logger
	db       *db.DB
	batch    *db.Batcher // group commits of workflow runs
	queue    *queue.Queue
	redis    *redis.Client
	vault    *vault.Vault
	auth     *auth.Service
	prices   *llm.Prices
	registry *prometheus.Registry
	limiter  ratelimit.Limiter // shared by every feature's limits (Redis when configured)
	router   *httpx.Router
	mcp      *tool.MCP      // holds open sessions to users' MCP servers
	search   *tool.Searcher // nil: web_search is off
	tel      *telemetry.Telemetry
	bus      *events.Bus
	workers  *river.Workers
	kv       *kv.Store
	realtime *realtime.Service
	flows    *workflow.Service
	stop     context.CancelFunc // ends the app's background loops
}

// New opens the database, applies migrations (unless turned off), and builds
// every service. It refuses a database whose schema is newer than the binary.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opts Options) (_ *App, err error) {
	a := &App{cfg: cfg, log: log, registry: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if created, err := cfg.LoadOrCreateSecretKey(); err != nil {
		return nil, err
	} else if created {
		log.Info("generated a secret key for this embedded install; back it up with the data dir", "path", filepath.Join(cfg.DataDir, config.SecretKeyFile))
	}

	a.db, err = db.Open(ctx, db.Options{Engine: cfg.Engine, SQLitePath: cfg.SQLitePath(), PostgresURL: cfg.DatabaseURL, MaxConns: cfg.DBMaxConns})
	if err != nil {
		return nil, err
	}
	if err := a.db.CheckSchema(ctx); err != nil {
		return nil, err
	}
	if cfg.AutoMigrate {
		if err := Migrate(ctx, a.db, log); err != nil {
			return nil, err
		}
	} else if s, err := a.db.MigrationStatus(ctx); err != nil {
		return nil, err
	} else if len(s.Pending) > 0 {
		return nil, fmt.Errorf("%d migrations pending and automatic migration is off: run pulse migrate up", len(s.Pending))
	}

	if cfg.RedisURL != "" {
		ro, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		a.redis = redis.NewClient(ro)
	}
	if a.vault, err = vault.Open(ctx, a.db, cfg.SecretKey); err != nil {
		return nil, err
	}
	if a.prices, err = llm.LoadPrices(cfg.PricesFile); err != nil {
		return nil, fmt.Errorf("PULSE_PRICES_FILE: %w", err)
	}
	if a.tel, err = telemetry.New(ctx, telemetry.Config{Endpoint: cfg.OTLPEndpoint, Headers: cfg.OTLPHeaders,
		ServiceName: cfg.ServiceName, Version: buildinfo.Version}); err != nil {
		return nil, err
	}
	if cfg.WebSearchProvider != "" {
		sc := tool.SearchConfig{Provider: cfg.WebSearchProvider}
		switch cfg.WebSearchProvider {
		case tool.SearchTavily:
			sc.APIKey = cfg.TavilyAPIKey
		case tool.SearchBrave:
			sc.APIKey = cfg.BraveSearchAPIKey
		case tool.SearchSearXNG:
			// The operator's own instance, often on a private network: its
			// host is admitted, as the operator chose it.
			sc.BaseURL = cfg.SearXNGURL
		}
		sc.Client = outbound.FromConfig(cfg).TrustingURLs(sc.BaseURL).Client(outbound.ClientOptions{Timeout: 20 * time.Second})
		if a.search, err = tool.NewSearcher(sc); err != nil {
			return nil, err
		}
	}
	store := kv.New(a.db, nil)
	a.kv = store
	// Events travel through Redis when there is one, else through
	// PostgreSQL, else stay in this process.
	var transport events.Transport = events.NewMemory(0)
	switch {
	case a.redis != nil:
		transport = events.NewRedis(a.redis, cfg.RedisPrefix)
	case cfg.Engine == config.Postgres:
		transport = events.NewPostgres(a.db.PgxPool(), a.db.Schema())
	}
	a.bus = events.New(transport, log)
	var life context.Context
	life, a.stop = context.WithCancel(context.WithoutCancel(ctx))
	a.bus.Start(life)
	var limiter ratelimit.Limiter = ratelimit.NewMemory(nil)
	if a.redis != nil {
		limiter = ratelimit.NewRedis(a.redis, cfg.RedisPrefix)
	}
	a.limiter = limiter
	var sender mail.Sender = &mail.LogSender{From: cfg.MailFrom, Dir: filepath.Join(cfg.DataDir, "outbox"), Logger: log}
	if cfg.SMTPURL != "" {
		if sender, err = mail.NewSMTP(cfg.SMTPURL, cfg.MailFrom); err != nil {
			return nil, fmt.Errorf("PULSE_SMTP_URL: %w", err)
		}
	}

	workers := river.NewWorkers()
	a.workers = workers // features add their workers before the queue starts
	mail.AddWorker(workers, sender, a.vault)
	maintenance := queue.AddMaintenance(workers, cfg.MaintenanceInterval, log,
		queue.Pruner{Name: "kv", Prune: store.PruneAll},
		queue.Pruner{Name: "events", Prune: a.bus.Prune},
		// a.auth is built below; the job only runs once the queue starts.
		queue.Pruner{Name: "auth_refresh_successors", Prune: func(ctx context.Context) (int64, error) { return a.auth.PruneSuccessors(ctx) }})
	a.queue, err = queue.New(queue.Params{
		DB: a.db, Workers: workers, PeriodicJobs: append([]*river.PeriodicJob{maintenance,
			// The durable core's reaper (durable.PeriodicJobs) follows.
			// Cron triggers: a minute's resolution, checked often enough
			// to fire within seconds of the time.
			river.NewPeriodicJob(river.PeriodicInterval(cfg.TriggerInterval), func() (river.JobArgs, *river.InsertOpts) {
				return workflow.TriggersArgs{}, &river.InsertOpts{MaxAttempts: 1}
			}, &river.PeriodicJobOpts{RunOnStart: true})}, durable.PeriodicJobs(cfg.RunLease)...),
		MaxWorkers: cfg.QueueWorkers, Logger: log,
	})
	if err != nil {
		return nil, err
	}

	a.auth, err = auth.New(ctx, auth.Config{
		Issuer: cfg.PublicURL, Audience: "pulse", AccessTTL: cfg.AccessTokenTTL, SessionTTL: cfg.SessionTTL,
		RefreshGrace: 10 * time.Second, AppURL: cfg.AppURL, Hash: opts.hashParams(), Limits: opts.authLimits(),
	}, auth.Deps{DB: a.db, Vault: a.vault, KV: store, Mailer: mail.NewOutbox(a.queue, a.vault, ids.New), Providers: providers(cfg, opts),
		SingleProcess: cfg.Engine == config.SQLite, Redis: a.redis, RedisPrefix: cfg.RedisPrefix, Audit: audit.New(a.db), Limiter: limiter, Logger: log})
	if err != nil {
		return nil, err
	}

	a.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		a.queue.Collector(),
		a.db.Collector(),
	)

	a.router = buildRouter(routerParams{
		log: log, registry: a.registry, cfg: cfg, checks: a.checks(), opts: opts,
		features: a.features(opts),
	})
	return a, nil
}

func (a *App) features(opts Options) features {
	// Every call users can aim (tools, MCP, http nodes, their provider base
	// URLs) reaches public addresses only, plus what PULSE_OUTBOUND_ALLOW
	// admits.
	policy := outbound.FromConfig(a.cfg)
	fns := tool.NewFunctions(a.db, a.vault, policy)
	mcpServers := tool.NewMCP(a.db, a.vault, policy)
	a.mcp = mcpServers
	runtime := tool.NewRuntime(nil)
	runtime.Fetcher = tool.NewFetcher(tool.FetchPolicy{Outbound: policy})
	runtime.Functions, runtime.MCP, runtime.Search = fns, mcpServers, a.search
	catalog := tool.Catalog{Functions: fns, MCP: mcpServers, Search: a.search}
	agents := agent.New(a.db, catalog, nil)
	models := llm.NewRegistry()
	if opts.ModelsFromConfig != nil {
		for name, p := range opts.ModelsFromConfig(a.cfg) {
			models.Register(name, p)
		}
	}
	for name, p := range opts.Models {
		models.Register(name, p)
	}
	keys := providerkey.New(providerkey.Params{DB: a.db, Vault: a.vault, Factory: opts.ProviderFactory, Providers: agent.Providers,
		Outbound: policy, Client: policy.Client(outbound.ClientOptions{Timeout: 5 * time.Minute})})
	observer := &runEvents{}
	// The durable core: every kind of durable work registers with it; it
	// renews leases, relays cancels and reaps until stopped with the app.
	core := durable.New(durable.Params{DB: a.db, Queue: a.queue, Bus: a.bus, Workers: a.workers, Lease: a.cfg.RunLease, Logger: a.log})
	if err := core.Start(context.Background()); err == nil {
		prev := a.stop
		a.stop = func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = core.Stop(ctx)
			if prev != nil {
				prev()
			}
		}
	}
	runs := run.New(run.Params{Observer: observer, DB: a.db, Agents: agents, Keys: keys, Models: models, Prices: a.prices, Tools: runtime,
		Tracer: a.tel.Tracer(run.TracerName), Bus: a.bus, Queue: a.queue, Durable: core, Timeout: a.cfg.RunTimeout})
	a.batch = db.NewBatcher(a.db)
	flows := workflow.New(workflow.Params{DB: a.db, Batch: a.batch, Bus: a.bus, Queue: a.queue, Durable: core, Timeout: a.cfg.RunTimeout,
		Secrets: a.vault, Accounts: a.auth, Limiter: a.limiter, PublicURL: a.cfg.PublicURL, UserZone: a.userZone, Tracer: a.tel.Tracer(workflow.TracerName),
		Outbound: policy,
		Effects:  &workflow.Effects{Agents: agentNodes{runs}, Models: models, Tools: toolNodes(runtime), Client: policy.Client(outbound.ClientOptions{Timeout: 2 * time.Minute})}})
	observer.flows = flows
	a.flows = flows
	if a.bus != nil {
		a.realtime = realtime.New(realtime.Params{Bus: a.bus, KV: a.kv, Runs: runAccess{runs, flows}, MaxPerUser: a.cfg.RealtimeMaxPerUser})
	}
	plans := planner.New(planner.Params{DB: a.db, Queue: a.queue, UserZone: a.userZone, Debounce: a.cfg.PlannerDebounce, Durable: core})
	jobs, err := job.New(job.Params{DB: a.db, Queue: a.queue, Runs: runs, Types: opts.JobTypes, Durable: core})
	if err != nil {
		panic(err) // a programming error: a type registered twice
	}
	return features{auth: a.auth, agents: agents, keys: keys, catalog: catalog, mcp: mcpServers, runs: runs, realtime: a.realtime,
		corsOrigins: a.cfg.CORSOrigins, kv: a.kv, vault: a.vault, jobs: jobs, workflows: flows, planner: plans}
}

// Migrate applies Pulse's and the queue's migrations.
func Migrate(ctx context.Context, d *db.DB, log *slog.Logger) error {
	applied, err := d.MigrateUp(ctx)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		log.Info("applied migrations", "migrations", applied)
	}
	n, err := queue.Migrate(ctx, d, log)
	if err != nil {
		return err
	}
	if n > 0 {
		log.Info("applied queue migrations", "count", n)
	}
	return nil
}

type routerParams struct {
	log      *slog.Logger
	registry *prometheus.Registry
	cfg      *config.Config
	checks   []httpx.Check
	opts     Options
	features features
}

func buildRouter(p routerParams) *httpx.Router {
	r := httpx.NewRouter(httpx.RouterParams{
		Title: "Pulse", Version: buildinfo.Version, Description: apiDescription,
		Logger: p.log, Registry: p.registry,
		MaxBodyBytes: p.cfg.MaxBodyBytes, CORSOrigins: p.cfg.CORSOrigins, Checks: p.checks,
		MetricsToken: p.cfg.MetricsToken, MetricsElsewhere: p.cfg.MetricsAddr != "",
		TrustedProxies: p.cfg.TrustedProxies,
	})
	if p.features.auth != nil {
		r.V1.UseMiddleware(auth.Middleware(r.V1, p.features.auth))
	}
	if p.features.kv != nil {
		ip := idempotency.Params{KV: p.features.kv}
		if p.features.vault != nil {
			ip.Vault = p.features.vault
		}
		r.V1.UseMiddleware(idempotency.Middleware(r.V1, ip))
	}
	registerRoutes(r.API, r.V1, p.features)
	if p.opts.Routes != nil {
		p.opts.Routes(r.V1)
	}
	return r
}

// OpenAPI builds the spec without opening anything.
func OpenAPI(cfg *config.Config) *huma.OpenAPI {
	return buildRouter(routerParams{log: slog.New(slog.DiscardHandler), cfg: cfg}).API.OpenAPI()
}

func (a *App) checks() []httpx.Check {
	checks := []httpx.Check{
		{Name: "database", Down: "unreachable", Fn: a.db.Ping},
		{Name: "migrations", Fn: func(ctx context.Context) error {
			s, err := a.db.MigrationStatus(ctx)
			if err != nil {
				return err
			}
			if len(s.Unknown) > 0 {
				return httpx.Unready(fmt.Sprintf("schema is newer than this binary (%d unknown migrations)", len(s.Unknown)))
			}
			if len(s.Pending) > 0 {
				return httpx.Unready(fmt.Sprintf("%d migrations pending: run pulse migrate up", len(s.Pending)))
			}
			qs, err := queue.Status(ctx, a.db)
			if err != nil {
				return err
			}
			if !qs.UpToDate() {
				return httpx.Unready(fmt.Sprintf("queue schema at version %d of %d: run pulse migrate up", qs.Current, qs.Latest))
			}
			return nil
		}},
		{Name: "queue", Fn: func(context.Context) error {
			if !a.queue.Running() {
				return httpx.Unready("not running")
			}
			return nil
		}},
	}
	if a.redis != nil {
		checks = append(checks, httpx.Check{Name: "redis", Down: "unreachable", Fn: func(ctx context.Context) error {
			return a.redis.Ping(ctx).Err()
		}})
	}
	return checks
}

// Auth is the identity service.
func (a *App) Auth() *auth.Service { return a.auth }

// RotateKeys makes a new vault data key, re-encrypts every secret under it,
// and starts signing tokens with a new key. Tokens already issued stay valid.
func (a *App) RotateKeys(ctx context.Context) (vaultKey, signingKey string, rewrapped int, err error) {
	if vaultKey, err = a.vault.Rotate(ctx); err != nil {
		return
	}
	if rewrapped, err = a.auth.RewrapSecrets(ctx); err != nil {
		return
	}
	n, err := a.flows.RewrapSecrets(ctx)
	if rewrapped += n; err != nil {
		return
	}
	n, err = a.vault.RewrapAll(ctx, append(tool.Sealed, providerkey.Sealed)...)
	if rewrapped += n; err != nil {
		return
	}
	signingKey, err = a.auth.RotateSigningKey(ctx)
	return
}

// Handler is the HTTP handler, for tests that drive it without a socket.
func (a *App) Handler() http.Handler { return a.router.Handler }

// Workflows is the workflow service (tests drive its internal entry
// points, such as event dispatch, with it).
func (a *App) Workflows() *workflow.Service { return a.flows }

// Queue is the job queue.
func (a *App) Queue() *queue.Queue { return a.queue }

// Bus is the events bus (tests publish on it).
func (a *App) Bus() *events.Bus { return a.bus }

// DB is the database.
func (a *App) DB() *db.DB { return a.db }

// StartQueue starts working jobs (Run does this itself).
func (a *App) StartQueue(ctx context.Context) error { return a.queue.Start(ctx) }

// Run listens on the configured address and serves until ctx ends.
func (a *App) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		a.close()
		return fmt.Errorf("listen on %s (PULSE_ADDR): %w", a.cfg.Addr, err)
	}
	return a.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then shuts down: stop accepting, let
// in-flight requests finish within the shutdown timeout, stop the queue
// (jobs get the rest of that time, then are cancelled and retried later),
// and close the database. It returns nil after a clean shutdown.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.router.Handler,
		ReadHeaderTimeout: a.cfg.ReadHeaderTimeout,
		ReadTimeout:       a.cfg.ReadTimeout,
		WriteTimeout:      a.cfg.WriteTimeout,
		IdleTimeout:       a.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	metrics, err := a.listenMetrics()
	if err != nil {
		a.close()
		ln.Close()
		return err
	}
	if err := a.queue.Start(ctx); err != nil {
		a.close()
		ln.Close()
		metrics.close()
		return err
	}
	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(ln) }()
	metrics.serve(serveErr)
	base := "http://" + ln.Addr().String()
	a.log.Info("pulse is ready", "version", buildinfo.Version, "engine", string(a.cfg.Engine),
		"api", base+httpx.APIPrefix, "docs", base+"/docs", "metrics", metrics.url(base), "data_dir", a.cfg.DataDir)

	var runErr error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down", "timeout", a.cfg.ShutdownTimeout.String())
	case runErr = <-serveErr:
		a.log.Error("http server stopped", "err", runErr)
	}
	deadline, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout)
	defer cancel()
	start := time.Now()
	if a.realtime != nil {
		// Streams never end by themselves: tell them to reconnect elsewhere
		// first, or Shutdown would wait for them until its deadline.
		drain, done := context.WithTimeout(deadline, 2*time.Second)
		a.realtime.Drain(drain)
		done()
	}
	if err := srv.Shutdown(deadline); err != nil {
		a.log.Warn("in-flight requests did not finish before the shutdown timeout", "err", err)
		_ = srv.Close()
	}
	metrics.shutdown(deadline)
	if err := a.queue.Stop(deadline); err != nil {
		a.log.Warn("queue stop", "err", err)
	}
	a.close()
	a.log.Info("stopped", "shutdown_ms", time.Since(start).Milliseconds())
	return runErr
}

func (a *App) close() {
	if a.mcp != nil {
		a.mcp.Close()
	}
	if a.bus != nil {
		a.bus.Close()
		a.bus = nil
	}
	if a.stop != nil {
		a.stop()
		a.stop = nil
	}
	if a.tel != nil {
		// Runs have ended by now: send their last spans.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := a.tel.Shutdown(ctx); err != nil {
			a.log.Warn("flush spans", "err", err)
		}
		cancel()
		a.tel = nil
	}
	if a.redis != nil {
		_ = a.redis.Close()
	}
	if a.batch != nil {
		a.batch.Close()
		a.batch = nil
	}
	if a.db != nil {
		if err := a.db.Close(); err != nil {
			a.log.Warn("close database", "err", err)
		}
		a.db = nil
	}
}

// Close releases resources of an App that was never served.
func (a *App) Close() {
	if a.queue != nil && a.queue.Running() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.queue.Stop(ctx)
	}
	a.close()
}
