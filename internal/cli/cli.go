// Package cli is the `pulse` command line: it parses arguments, loads the
// configuration and runs a subcommand. It returns exit codes instead of
// exiting so tests can drive it: 0 success, 1 failure, 2 bad usage or
// configuration.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"text/tabwriter"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/platform/buildinfo"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/db"
	"github.com/pulse-run/pulse/internal/platform/logging"
	"github.com/pulse-run/pulse/internal/platform/queue"
)

// Env is what a command reads from its surroundings.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	LookupEnv      func(string) (string, bool)
	// AppOptions reach app.New (tests add routes).
	AppOptions app.Options
}

// Main runs the command line in args (without the program name) and returns
// the exit code. SIGINT and SIGTERM end `serve` gracefully.
func Main(args []string, env Env) int {
	if env.Stdout == nil {
		env.Stdout = os.Stdout
	}
	if env.Stderr == nil {
		env.Stderr = os.Stderr
	}
	if env.LookupEnv == nil {
		env.LookupEnv = os.LookupEnv
	}
	if env.Stdin == nil {
		env.Stdin = os.Stdin
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, env)
}

// Run is Main with the caller's context (cancel it to stop `serve`).
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 {
		usage(env.Stderr)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], env)
	case "migrate":
		return migrate(ctx, args[1:], env)
	case "openapi":
		return openapi(args[1:], env)
	case "user":
		return user(ctx, args[1:], env)
	case "keys":
		return keys(ctx, args[1:], env)
	case "version":
		return version(args[1:], env)
	case "help", "-h", "-help", "--help":
		usage(env.Stdout)
		return 0
	default:
		fmt.Fprintf(env.Stderr, "pulse: unknown command %q\n\n", args[0])
		usage(env.Stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Pulse: the whole backend of an AI-agent product in one binary.

Usage:
  pulse serve [flags]            serve the API and work jobs (SIGINT/SIGTERM stop it gracefully);
                                 --role=api|worker splits the two across processes (PostgreSQL)
  pulse migrate up|down|status   apply, roll back (last group) or show database migrations
  pulse user create --email E [--admin]   create an account (password on standard input)
  pulse keys rotate              new vault and token-signing keys (issued tokens stay valid)
  pulse openapi                  print the OpenAPI 3.1 document as JSON
  pulse version                  print the version

Run "pulse <command> --help" for a command's flags. Every flag also has an
environment variable; see the README's configuration table.
`)
}

// newFlagSet returns a FlagSet whose parse errors and --help we report ourselves.
func newFlagSet(name, synopsis string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: pulse %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse handles --help (exit 0) and bad flags (exit 2). ok is false when
// the command should return code.
func parse(fs *flag.FlagSet, args []string, env Env) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(env.Stdout)
			fs.Usage()
			return 0, false
		}
		return 2, false
	}
	return 0, true
}

// loadConfig reports a bad value as one line naming its variable, exit 2.
func loadConfig(l *config.Loader, env Env) (*config.Config, int) {
	cfg, err := l.Load(env.LookupEnv)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pulse: %v\n", err)
		return nil, 2
	}
	return cfg, 0
}

func serve(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("serve", "serve [flags]", env)
	l := config.Register(fs)
	noMigrate := fs.Bool("no-migrate", false, "do not apply migrations at start (env PULSE_AUTO_MIGRATE=false)")
	if code, ok := parse(fs, args, env); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "pulse serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, code := loadConfig(l, env)
	if cfg == nil {
		return code
	}
	if *noMigrate {
		cfg.AutoMigrate = false
	}
	log := logging.New(env.Stderr, cfg.LogLevel, cfg.LogFormat)
	slog.SetDefault(log)
	a, err := app.New(ctx, cfg, log, env.AppOptions)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	if err := a.Run(ctx); err != nil {
		log.Error("stopped with an error", "err", err)
		return 1
	}
	return 0
}

func migrate(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("migrate", "migrate up|down|status [flags]", env)
	l := config.Register(fs)
	if code, ok := parse(fs, args, env); !ok {
		return code
	}
	// Flags may also follow the action: pulse migrate up --data-dir x.
	action := fs.Arg(0)
	if fs.NArg() > 1 {
		if code, ok := parse(fs, fs.Args()[1:], env); !ok {
			return code
		}
		if fs.NArg() > 0 {
			action = "" // a second positional argument
		}
	}
	if action == "" || !slices.Contains([]string{"up", "down", "status"}, action) {
		fmt.Fprintln(env.Stderr, "pulse migrate: want exactly one of up, down, status")
		fs.Usage()
		return 2
	}
	cfg, code := loadConfig(l, env)
	if cfg == nil {
		return code
	}
	log := logging.New(env.Stderr, cfg.LogLevel, cfg.LogFormat)
	d, err := db.Open(ctx, db.Options{Engine: cfg.Engine, SQLitePath: cfg.SQLitePath(), PostgresURL: cfg.DatabaseURL, MaxConns: cfg.DBMaxConns})
	if err != nil {
		fmt.Fprintf(env.Stderr, "pulse: %v\n", err)
		return 1
	}
	defer d.Close()

	switch action {
	case "up":
		err = app.Migrate(ctx, d, log)
		if err == nil {
			fmt.Fprintln(env.Stdout, "migrations are up to date")
		}
	case "down":
		var names []string
		names, err = d.MigrateDown(ctx)
		if err == nil && len(names) == 0 {
			fmt.Fprintln(env.Stdout, "nothing to roll back")
		}
		for _, n := range names {
			fmt.Fprintln(env.Stdout, "rolled back", n)
		}
	case "status":
		err = printStatus(ctx, d, env.Stdout)
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "pulse: %v\n", err)
		return 1
	}
	return 0
}

func printStatus(ctx context.Context, d *db.DB, w io.Writer) error {
	s, err := d.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	qs, err := queue.Status(ctx, d)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MIGRATION\tSTATUS")
	for _, n := range s.Applied {
		fmt.Fprintf(tw, "%s\tapplied\n", n)
	}
	for _, n := range s.Pending {
		fmt.Fprintf(tw, "%s\tpending\n", n)
	}
	for _, n := range s.Unknown {
		fmt.Fprintf(tw, "%s\tunknown (applied by a newer pulse)\n", n)
	}
	qstate := "up to date"
	if !qs.UpToDate() {
		qstate = "pending"
	}
	fmt.Fprintf(tw, "queue (river) version %d of %d\t%s\n", qs.Current, qs.Latest, qstate)
	return tw.Flush()
}

func openapi(args []string, env Env) int {
	fs := newFlagSet("openapi", "openapi", env)
	if code, ok := parse(fs, args, env); !ok {
		return code
	}
	cfg, code := loadConfig(config.Register(nil), env)
	if cfg == nil {
		return code
	}
	b, err := json.MarshalIndent(app.OpenAPI(cfg), "", "  ")
	if err != nil {
		fmt.Fprintf(env.Stderr, "pulse: %v\n", err)
		return 1
	}
	fmt.Fprintln(env.Stdout, string(b))
	return 0
}

func version(args []string, env Env) int {
	fs := newFlagSet("version", "version", env)
	if code, ok := parse(fs, args, env); !ok {
		return code
	}
	fmt.Fprintln(env.Stdout, buildinfo.String())
	return 0
}
