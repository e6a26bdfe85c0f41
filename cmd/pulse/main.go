// Command pulse is the whole Pulse backend: API, workers and migrations in
// one binary. See internal/cli for the commands.
package main

import (
	"os"

	"github.com/pulse-run/pulse/internal/app"
	"github.com/pulse-run/pulse/internal/cli"
	"github.com/pulse-run/pulse/internal/llm/providers"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.Env{AppOptions: app.Options{ModelsFromConfig: providers.FromConfig, ProviderFactory: providers.FromKey}}))
}
