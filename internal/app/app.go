// Package app wires Pulse together: it is the only package that knows every
// feature. It builds the services from a validated config.Config, serves HTTP
// and works jobs until its context ends, then shuts down in order.
package app

import (
	"context"
	"errors"
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
	"github.com/pulse-run/pulse/internal/platform/lifecycle"
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

// App is one Pulse process: its services, built by New in dependency
// order, and the list of its long-lived components, which Start and Serve
// start and Close stops (see docs/architecture.md, "Lifecycle").
type App struct {
	cfg      *config.Config
	log      *slog.Logger
	db       *db.DB
	queue    *queue.Queue
	redis    *redis.Client
	vault    *vault.Vault
	auth     *auth.Service
	registry *prometheus.Registry
	router   *httpx.Router // the API, or on a worker only /healthz, /readyz and /metrics
	bus      *events.Bus
	realtime *realtime.Service
	flows    *workflow.Service
	core     *durable.Core // the durable-execution core (leases, cancel relay, reaper)

	// life holds the components in start order; releases are the
	// resources New opened, closed in reverse once every component has
	// stopped (the database last).
	life     *lifecycle.Group
	releases []func()
}

// Component names that Serve and the tests refer to.
const (
	componentQueue = "queue"
	componentHTTP  = "http"
)

// release adds a resource to close at the end, after those added later.
func (a *App) release(fn func()) { a.releases = append(a.releases, fn) }

// New opens the database, applies migrations (unless turned off), and builds
// every service, each after what it needs: nothing is assigned to a
// service after it is built. It starts nothing (Start and Serve do) and
// refuses a database whose schema is newer than the binary.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, opts Options) (_ *App, err error) {
	if log == nil {
		return nil, errors.New("app: a logger is required")
	}
	a := &App{cfg: cfg, log: log, registry: prometheus.NewRegistry(), life: lifecycle.New(cfg.Role, log)}
	defer func() {
		if err != nil {
			a.Close()
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
	a.release(func() {
		if err := a.db.Close(); err != nil {
			a.log.Warn("close database", "err", err)
		}
	})
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
		a.release(func() { _ = a.redis.Close() })
	}
	if a.vault, err = vault.Open(ctx, a.db, cfg.SecretKey); err != nil {
		return nil, err
	}
	prices, err := llm.LoadPrices(cfg.PricesFile)
	if err != nil {
		return nil, fmt.Errorf("PULSE_PRICES_FILE: %w", err)
	}
	tel, err := telemetry.New(ctx, telemetry.Config{Endpoint: cfg.OTLPEndpoint, Headers: cfg.OTLPHeaders,
		ServiceName: cfg.ServiceName, Version: buildinfo.Version})
	if err != nil {
		return nil, err
	}
	a.release(func() {
		// Every run has ended by now: send their last spans.
		flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(flush); err != nil {
			a.log.Warn("flush spans", "err", err)
		}
	})
	var search *tool.Searcher // nil: web_search is off
	if cfg.WebSearchProvider != "" {
		if search, err = webSearch(cfg); err != nil {
			return nil, err
		}
	}
	store := kv.New(a.db, nil)
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
	var limiter ratelimit.Limiter = ratelimit.NewMemory(nil)
	if a.redis != nil {
		limiter = ratelimit.NewRedis(a.redis, cfg.RedisPrefix)
	}
	var sender mail.Sender = &mail.LogSender{From: cfg.MailFrom, Dir: filepath.Join(cfg.DataDir, "outbox"), Logger: log}
	if cfg.SMTPURL != "" {
		if sender, err = mail.NewSMTP(cfg.SMTPURL, cfg.MailFrom); err != nil {
			return nil, fmt.Errorf("PULSE_SMTP_URL: %w", err)
		}
	}

	// River's design: the client is built on a bundle of workers, which
	// is filled below (in one place, registerWorkers) before it starts.
	workers := river.NewWorkers()
	a.queue, err = queue.New(queue.Params{
		DB: a.db, Workers: workers, PeriodicJobs: periodicJobs(cfg), MaxWorkers: cfg.QueueWorkers, Logger: log,
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

	f, err := a.features(featureDeps{opts: opts, kv: store, limiter: limiter, prices: prices, tel: tel, search: search, workers: workers})
	if err != nil {
		return nil, err
	}
	registerWorkers(workers, workerDeps{log: log, cfg: cfg, sender: sender, vault: a.vault, kv: store, bus: a.bus, auth: a.auth})

	if err := registerCollectors(a.registry, a.queue.Collector(), a.db.Collector()); err != nil {
		return nil, err
	}
	a.components()
	routes := routerParams{log: log, registry: a.registry, cfg: cfg, checks: a.checks(), opts: opts, features: f}
	if !cfg.Role.ServesAPI() {
		routes.features, routes.opsOnly = features{}, true // a worker routes none of them
	}
	if a.router, err = buildRouter(routes); err != nil {
		return nil, err
	}
	return a, nil
}

// webSearch builds the web_search backend the configuration names.
func webSearch(cfg *config.Config) (*tool.Searcher, error) {
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
	return tool.NewSearcher(sc)
}

// periodicJobs are the queue's periodic jobs; only the elected leader
// among worker processes enqueues them.
func periodicJobs(cfg *config.Config) []*river.PeriodicJob {
	// The durable core's reaper (work whose holder vanished back to the
	// queue, deadlines, unanswered interrupts) follows these.
	return append([]*river.PeriodicJob{
		queue.MaintenanceJob(cfg.MaintenanceInterval),
		// Cron triggers: a minute's resolution, checked often enough
		// to fire within seconds of the time.
		river.NewPeriodicJob(river.PeriodicInterval(cfg.TriggerInterval), func() (river.JobArgs, *river.InsertOpts) {
			return workflow.TriggersArgs{}, &river.InsertOpts{MaxAttempts: 1}
		}, &river.PeriodicJobOpts{RunOnStart: true}),
	}, durable.PeriodicJobs(cfg.RunLease)...)
}

func registerCollectors(reg *prometheus.Registry, cs ...prometheus.Collector) error {
	cs = append([]prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}, cs...)
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}

type featureDeps struct {
	opts    Options
	kv      *kv.Store
	limiter ratelimit.Limiter // shared by every feature's limits (Redis when configured)
	prices  *llm.Prices
	tel     *telemetry.Telemetry
	search  *tool.Searcher // nil: web_search is off
	// workers is the queue's bundle: each durable kind adds its worker
	// through the core as it is built.
	workers *river.Workers
}

// features builds the feature services, each after what it needs.
func (a *App) features(d featureDeps) (features, error) {
	// Every call users can aim (tools, MCP, http nodes, their provider base
	// URLs) reaches public addresses only, plus what PULSE_OUTBOUND_ALLOW
	// admits.
	policy := outbound.FromConfig(a.cfg)
	fns := tool.NewFunctions(a.db, a.vault, policy)
	mcpServers := tool.NewMCP(a.db, a.vault, policy)
	a.release(mcpServers.Close) // after every run that used a session
	runtime := &tool.Runtime{Now: time.Now, Fetcher: tool.NewFetcher(tool.FetchPolicy{Outbound: policy}),
		Functions: fns, MCP: mcpServers, Search: d.search}
	catalog := tool.Catalog{Functions: fns, MCP: mcpServers, Search: d.search}
	agents := agent.New(a.db, catalog, nil)
	models := llm.NewRegistry()
	if d.opts.ModelsFromConfig != nil {
		for name, p := range d.opts.ModelsFromConfig(a.cfg) {
			models.Register(name, p)
		}
	}
	for name, p := range d.opts.Models {
		models.Register(name, p)
	}
	keys := providerkey.New(providerkey.Params{DB: a.db, Vault: a.vault, Factory: d.opts.ProviderFactory, Providers: agent.Providers,
		Outbound: policy, Client: policy.Client(outbound.ClientOptions{Timeout: 5 * time.Minute})})
	// The durable core: every kind of durable work registers with it (its
	// queue worker goes into the bundle); it renews leases, relays cancels
	// and reaps, started and stopped as a component.
	a.core = durable.New(durable.Params{DB: a.db, Queue: a.queue, Bus: a.bus, Workers: d.workers, Lease: a.cfg.RunLease, Logger: a.log})
	runs := run.New(run.Params{Observer: runEvents{queue: a.queue, log: a.log}, DB: a.db, Agents: agents, Keys: keys, Models: models,
		Prices: d.prices, Tools: runtime, Tracer: d.tel.Tracer(run.TracerName), Bus: a.bus, Queue: a.queue, Durable: a.core, Timeout: a.cfg.RunTimeout})
	batch := db.NewBatcher(a.db)
	a.release(batch.Close) // after the workers that write through it
	a.flows = workflow.New(workflow.Params{DB: a.db, Batch: batch, Bus: a.bus, Queue: a.queue, Durable: a.core, Timeout: a.cfg.RunTimeout,
		Secrets: a.vault, Accounts: a.auth, Limiter: d.limiter, PublicURL: a.cfg.PublicURL, UserZone: userZone(a.auth), Tracer: d.tel.Tracer(workflow.TracerName),
		Outbound: policy, Logger: a.log,
		Effects: &workflow.Effects{Agents: agentNodes{runs}, Models: models, Tools: toolNodes(runtime), Client: policy.Client(outbound.ClientOptions{Timeout: 2 * time.Minute})}})
	a.realtime = realtime.New(realtime.Params{Bus: a.bus, KV: d.kv, Runs: runAccess{runs, a.flows}, MaxPerUser: a.cfg.RealtimeMaxPerUser})
	plans := planner.New(planner.Params{DB: a.db, Queue: a.queue, UserZone: userZone(a.auth), Debounce: a.cfg.PlannerDebounce, Durable: a.core})
	jobs, err := job.New(job.Params{DB: a.db, Queue: a.queue, Runs: runs, Types: d.opts.JobTypes, Durable: a.core})
	if err != nil {
		return features{}, err // a type registered twice
	}
	return features{auth: a.auth, agents: agents, keys: keys, catalog: catalog, mcp: mcpServers, runs: runs, realtime: a.realtime,
		corsOrigins: a.cfg.CORSOrigins, kv: d.kv, vault: a.vault, jobs: jobs, workflows: a.flows, planner: plans}, nil
}

type workerDeps struct {
	log    *slog.Logger
	cfg    *config.Config
	sender mail.Sender
	vault  *vault.Vault
	kv     *kv.Store
	bus    *events.Bus
	auth   *auth.Service
}

// registerWorkers adds every job kind's worker to the queue's bundle. A
// process that works no jobs registers them too: River checks at insert
// that a kind is known.
func registerWorkers(w *river.Workers, d workerDeps) {
	mail.AddWorker(w, d.sender, d.vault)
	river.AddWorker(w, &queue.MaintenanceWorker{Logger: d.log, Pruners: []queue.Pruner{
		{Name: "kv", Prune: d.kv.PruneAll},
		{Name: "events", Prune: d.bus.Prune},
		{Name: "auth_refresh_successors", Prune: d.auth.PruneSuccessors},
	}})
	// Agent runs, workflow runs, triggers, event dispatch, the planner and
	// generic jobs registered theirs through the durable core as they were
	// built.
}

// components lists the long-lived parts in start order, each with the
// roles it runs in (none: every role). Stop goes back up the list, so a
// part stops after everything that uses it: the queue's jobs finish while
// leases are still renewed and events still published. Serve appends the
// listeners, which stop first.
func (a *App) components() {
	a.life.Add("events", lifecycle.Funcs{
		OnStart: func(ctx context.Context) error { a.bus.Start(ctx); return nil },
		OnStop:  func(context.Context) error { a.bus.Close(); return nil },
	})
	// The durable core renews the leases of what executes here and applies
	// cancels relayed by other processes, in every role: background work
	// runs on workers, synchronous runs inside API requests.
	a.life.Add("durable", a.core)
	// Open streams are told to reconnect elsewhere, then cut.
	a.life.Add("realtime", lifecycle.Closer(func(ctx context.Context) error {
		drain, done := context.WithTimeout(ctx, 2*time.Second)
		defer done()
		a.realtime.Drain(drain)
		return nil
	}), config.RoleAPI)
	// Works jobs and takes part in the periodic-job leader election.
	// River's jobs live in the context given to Start: the signal that
	// begins the shutdown must not cancel them, Stop ends them in turn.
	a.life.Add(componentQueue, lifecycle.Funcs{
		OnStart: func(ctx context.Context) error { return a.queue.Start(context.WithoutCancel(ctx)) },
		OnStop:  a.queue.Stop,
	}, config.RoleWorker)
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
	opsOnly  bool // a worker: /healthz, /readyz and /metrics only
}

func buildRouter(p routerParams) (*httpx.Router, error) {
	r, err := httpx.NewRouter(httpx.RouterParams{
		Title: "Pulse", Version: buildinfo.Version, Description: apiDescription,
		Logger: p.log, Registry: p.registry,
		MaxBodyBytes: p.cfg.MaxBodyBytes, CORSOrigins: p.cfg.CORSOrigins, Checks: p.checks,
		MetricsToken: p.cfg.MetricsToken, MetricsElsewhere: p.cfg.MetricsAddr != "",
		TrustedProxies: p.cfg.TrustedProxies, SchemaNames: schemaNames, OpsOnly: p.opsOnly,
	})
	if err != nil || p.opsOnly {
		return r, err
	}
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
	return r, nil
}

// OpenAPI builds the spec without opening anything.
func OpenAPI(cfg *config.Config) *huma.OpenAPI {
	// Without a metrics registry building the router cannot fail.
	r, _ := buildRouter(routerParams{log: slog.New(slog.DiscardHandler), cfg: cfg})
	return r.API.OpenAPI()
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
	}
	if a.cfg.Role.WorksJobs() {
		// An api process enqueues only: its queue never runs.
		checks = append(checks, httpx.Check{Name: "queue", Fn: func(context.Context) error {
			if !a.queue.Running() {
				return httpx.Unready("not running")
			}
			return nil
		}})
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

// Start starts the components of the process's role except its listeners
// and the queue: the events bus, cancel relays, lease renewal. Tests that
// drive Handler start the app this way; Serve does it itself.
func (a *App) Start(ctx context.Context) error { return a.life.StartBefore(ctx, componentQueue) }

// StartQueue starts working jobs (Serve does this itself). It starts what
// the workers need first.
func (a *App) StartQueue(ctx context.Context) error {
	if err := a.Start(ctx); err != nil {
		return err
	}
	return a.life.StartOne(ctx, componentQueue)
}

// Components lists the components of this process's role in start order.
func (a *App) Components() []string { return a.life.Names() }

// Run listens on the configured address and serves until ctx ends.
func (a *App) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		a.Close()
		return fmt.Errorf("listen on %s (PULSE_ADDR): %w", a.cfg.Addr, err)
	}
	return a.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then shuts down: the components stop
// in reverse order (stop accepting, let in-flight requests finish within
// the shutdown timeout, stop the queue, whose jobs get the rest of that
// time and are then cancelled and retried later, then the background
// loops), and once every goroutine has returned the database closes. It
// returns nil after a clean shutdown.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	metrics, err := a.listenMetrics()
	if err != nil {
		_ = ln.Close()
		a.Close()
		return err
	}
	failed := make(chan error, 2) // a listener that stopped by itself
	a.life.Add("metrics-listener", metrics.component(failed))
	a.life.Add(componentHTTP, a.httpServer(ctx, ln, failed))
	if err := a.life.Start(ctx); err != nil {
		_ = ln.Close()
		metrics.close()
		a.Close()
		return err
	}
	base := "http://" + ln.Addr().String()
	where := []any{"addr", base}
	if a.cfg.Role.ServesAPI() {
		where = append(where, "api", base+httpx.APIPrefix, "docs", base+"/docs")
	}
	a.log.Info("pulse is ready", append(where, "version", buildinfo.Version, "engine", string(a.cfg.Engine), "role", string(a.cfg.Role),
		"metrics", metrics.url(base), "data_dir", a.cfg.DataDir, "components", a.life.Names())...)

	var runErr error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down", "timeout", a.cfg.ShutdownTimeout.String())
	case runErr = <-failed:
		a.log.Error("http server stopped", "err", runErr)
	}
	deadline, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.ShutdownTimeout)
	defer cancel()
	start := time.Now()
	if err := a.shutdown(deadline); err != nil {
		a.log.Warn("shutdown was not clean", "err", err)
	}
	a.log.Info("stopped", "shutdown_ms", time.Since(start).Milliseconds())
	return runErr
}

// httpServer is the main listener as a component: the API, or on a worker
// the operational endpoints only. Requests' contexts keep the serve
// context's values but are not cancelled with it: shutdown lets them end.
func (a *App) httpServer(ctx context.Context, ln net.Listener, failed chan<- error) lifecycle.Component {
	srv := &http.Server{
		Handler:           a.router.Handler,
		ReadHeaderTimeout: a.cfg.ReadHeaderTimeout,
		ReadTimeout:       a.cfg.ReadTimeout,
		WriteTimeout:      a.cfg.WriteTimeout,
		IdleTimeout:       a.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	served := make(chan struct{})
	return lifecycle.Funcs{
		OnStart: func(context.Context) error {
			go func() {
				defer close(served)
				if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
					failed <- err
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			if a.cfg.Role.ServesAPI() {
				// Streams never end by themselves: tell them to reconnect
				// elsewhere first, or Shutdown would wait for them until
				// its deadline.
				drain, done := context.WithTimeout(ctx, 2*time.Second)
				a.realtime.Drain(drain)
				done()
			}
			err := srv.Shutdown(ctx)
			if err != nil {
				a.log.Warn("in-flight requests did not finish before the shutdown timeout", "err", err)
				_ = srv.Close()
			}
			return lifecycle.Wait(ctx, served)
		},
	}
}

// shutdown stops the components in reverse order, then closes what New
// opened, the database last.
func (a *App) shutdown(ctx context.Context) error {
	err := a.life.Stop(ctx)
	for i := len(a.releases) - 1; i >= 0; i-- {
		a.releases[i]()
	}
	a.releases = nil
	return err
}

// Close stops an App that was built (and maybe started) but not served,
// and releases its resources. It may be called more than once.
func (a *App) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.shutdown(ctx); err != nil {
		a.log.Warn("shutdown was not clean", "err", err)
	}
}
