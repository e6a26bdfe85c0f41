package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/auth"
	"github.com/pulse-run/pulse/internal/platform/config"
	"github.com/pulse-run/pulse/internal/platform/logging"
)

// openApp builds the app (migrating as serve would) for one-off commands.
func openApp(ctx context.Context, l *config.Loader, env Env) (*app.App, int) {
	cfg, code := loadConfig(l, env)
	if cfg == nil {
		return nil, code
	}
	log := logging.New(env.Stderr, "warn", cfg.LogFormat)
	a, err := app.New(ctx, cfg, log, env.AppOptions)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pulse: %v\n", err)
		return nil, 1
	}
	return a, 0
}

// user create: bootstrap accounts, the first admin above all. The password
// is read from standard input so it stays out of shell history and ps.
func user(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("user", "user create --email EMAIL [--name NAME] [--admin] < password", env)
	l := config.Register(fs)
	email := fs.String("email", "", "the account's email")
	name := fs.String("name", "", "display name")
	admin := fs.Bool("admin", false, "give the account the admin role")
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fs.SetOutput(env.Stdout)
			fs.Usage()
			return 0
		}
		fmt.Fprintln(env.Stderr, "pulse user: want: pulse user create --email EMAIL [--admin] (password on standard input)")
		return 2
	}
	if code, ok := parse(fs, args[1:], env); !ok {
		return code
	}
	if *email == "" {
		fmt.Fprintln(env.Stderr, "pulse user create: --email is required")
		return 2
	}
	pw, err := readPassword(env.Stdin)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pulse user create: %v\n", err)
		return 2
	}
	a, code := openApp(ctx, l, env)
	if a == nil {
		return code
	}
	defer a.Close()
	role := "user"
	if *admin {
		role = "admin"
	}
	u, err := a.Auth().CreateUser(ctx, auth.RegisterParams{Email: *email, Password: pw, Name: *name, Role: role})
	if err != nil {
		fmt.Fprintf(env.Stderr, "pulse user create: %v\n", err)
		return 1
	}
	fmt.Fprintf(env.Stdout, "created %s user %s (%s)\n", u.Role, u.Email, u.ID)
	return 0
}

func readPassword(r io.Reader) (string, error) {
	if r == nil {
		return "", fmt.Errorf("give the password on standard input")
	}
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", fmt.Errorf("give the password on standard input")
	}
	return pw, nil
}

// keys rotate: a new vault key (every secret re-encrypted under it) and a
// new token signing key. Issued tokens keep working until they expire.
func keys(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("keys", "keys rotate", env)
	l := config.Register(fs)
	if len(args) == 0 || args[0] != "rotate" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fs.SetOutput(env.Stdout)
			fs.Usage()
			return 0
		}
		fmt.Fprintln(env.Stderr, "pulse keys: want: pulse keys rotate")
		return 2
	}
	if code, ok := parse(fs, args[1:], env); !ok {
		return code
	}
	a, code := openApp(ctx, l, env)
	if a == nil {
		return code
	}
	defer a.Close()
	vk, sk, n, err := a.RotateKeys(ctx)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pulse keys rotate: %v\n", err)
		return 1
	}
	fmt.Fprintf(env.Stdout, "new vault key %s (%d secrets re-encrypted); new signing key %s\n", vk, n, sk)
	return 0
}
