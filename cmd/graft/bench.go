package main

import "github.com/spf13/cobra"

func init() { register(newBenchCommand) }

// benchCommands holds the constructors of `graft bench` subcommands; each
// benchmark registers its own from its own file (bench_engine.go, ...).
var benchCommands []func() *cobra.Command

func registerBench(c func() *cobra.Command) { benchCommands = append(benchCommands, c) }

func newBenchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure Graft's performance on this machine",
		Args:  cobra.NoArgs,
	}
	for _, c := range benchCommands {
		cmd.AddCommand(c())
	}
	return cmd
}
