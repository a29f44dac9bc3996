package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/internal/flagenv"
)

// subcommands holds the constructors that subcommand files register in init, so a
// new subcommand is one new file and touches no other.
var subcommands []func() *cobra.Command

func register(c func() *cobra.Command) { subcommands = append(subcommands, c) }

type logOptions struct {
	format string
	level  string
}

func newRootCommand() *cobra.Command {
	var lo logOptions
	root := &cobra.Command{
		Use:   "graft",
		Short: "Serve open LLMs and hundreds of LoRA adapters on shared deployments",
		Long: `Graft serves open-source LLMs and many LoRA adapters on shared base-model
deployments behind an OpenAI-compatible API.

Every flag can also be set with an environment variable named GRAFT_ and the
flag's name in upper case with dashes as underscores: --log-format json is the
same as GRAFT_LOG_FORMAT=json. A flag on the command line wins.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := flagenv.Apply(cmd.Flags()); err != nil {
				return err
			}
			logger, err := newLogger(cmd.ErrOrStderr(), lo)
			if err != nil {
				return err
			}
			slog.SetDefault(logger)
			return nil
		},
	}
	// A flag that does not parse is a usage error, like a value the libraries refuse.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return exitError{code: 2, err: err} })
	root.PersistentFlags().StringVar(&lo.format, "log-format", "text", "log format: text (for terminals) or json")
	root.PersistentFlags().StringVar(&lo.level, "log-level", "info", "log level: debug, info, warn or error")
	for _, c := range subcommands {
		root.AddCommand(c())
	}
	annotateAll(root)
	return root
}

// annotateAll shows each flag's environment variable in --help.
func annotateAll(c *cobra.Command) {
	flagenv.Annotate(c.LocalNonPersistentFlags())
	flagenv.Annotate(c.PersistentFlags())
	for _, sub := range c.Commands() {
		annotateAll(sub)
	}
}

func newLogger(w io.Writer, lo logOptions) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(lo.level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", lo.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(lo.format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", lo.format)
}

// usageError marks bad command-line input: exit status 2, as for flag errors.
func usageError(format string, args ...any) error {
	return exitError{code: 2, err: fmt.Errorf(format, args...)}
}
