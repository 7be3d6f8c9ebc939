// Command stuffedfs mounts an OCI registry as a folder of WebAssembly components, and pushes
// and pulls components from the command line.
//
//	main.go    run() error, the root command and shared flags
//	mount.go   stuffedfs mount
//	push.go    stuffedfs push   (the original tool's interface)
//	pull.go    stuffedfs pull   (the original tool's interface)
//	ref.go     REF parsing: host/repo:tag, or repo:tag in the local store
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/stuffed-dev/stuffed/registry"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "stuffedfs:", registry.Redact(err.Error()))
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return newRootCommand().ExecuteContext(ctx)
}

// globalFlags are shared by every command.
type globalFlags struct {
	logLevel string
}

func newRootCommand() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "stuffedfs",
		Short:         "An OCI registry as a folder of WebAssembly components",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "trace (every HTTP request), debug, info, warn or error")
	root.AddCommand(newMountCommand(g), newPushCommand(g), newPullCommand(g))
	return root
}

// levelTrace is regclient's level for logging every HTTP request and response.
const levelTrace = slog.Level(-8)

func (g *globalFlags) logger() (*slog.Logger, error) {
	level := levelTrace
	if g.logLevel != "trace" {
		if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
			return nil, fmt.Errorf("--log-level %q: choose trace, debug, info, warn or error", g.logLevel)
		}
	}
	text := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})
	return slog.New(registry.RedactingHandler(text)), nil
}
