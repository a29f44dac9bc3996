// Command graft is the one binary of the Graft platform: every part (engine,
// sidecar, gateway, control plane) and every tool is a subcommand.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/graft-ai/graft/deploy/control"
	"github.com/graft-ai/graft/engine/server"
	"github.com/graft-ai/graft/sidecar"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the command line and returns the process exit status.
func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCommand()
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "graft:", err)
		return exitCode(err)
	}
	return 0
}

// exitCode is 2 for bad input (flags, or the options and config built from
// them, as the libraries report), the code an exitError carries, else 1.
func exitCode(err error) int {
	var ee exitError
	var oe *server.OptionError
	var ce *sidecar.ConfigError
	var cc *control.ConfigError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &oe), errors.As(err, &ce), errors.As(err, &cc):
		return 2
	}
	return 1
}

// exitError carries a specific exit status out of a subcommand.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }
