package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/gateway"
)

func init() { register(newKeysCommand) }

func newKeysCommand() *cobra.Command {
	var redisURL string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list and revoke the API keys the gateway accepts",
		Long: `API keys are stored in Redis by their SHA-256 only: a key is printed once,
when it is made, and cannot be shown again. Each key belongs to a tenant; admin
keys may also use the management API (/v1/deployments).`,
	}
	cmd.PersistentFlags().StringVar(&redisURL, "redis", "redis://127.0.0.1:6379/0", "Redis URL of the platform's state")
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")
	open := func() (*state.Store, error) {
		s, err := state.Open(redisURL)
		if err != nil {
			return nil, exitError{code: 2, err: fmt.Errorf("--redis: %w", err)}
		}
		return s, nil
	}

	var tenant, name string
	var admin bool
	var rpm, tpm int
	create := &cobra.Command{
		Use:   "create --tenant T [--admin] [--name N]",
		Short: "Make a key and print it (once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := state.CheckName(tenant); err != nil {
				return exitError{code: 2, err: fmt.Errorf("--tenant: %w", err)}
			}
			s, err := open()
			if err != nil {
				return err
			}
			defer s.Close()
			if rpm < 0 || tpm < 0 {
				return exitError{code: 2, err: fmt.Errorf("--rpm and --tpm must not be negative")}
			}
			key, rec := gateway.NewAPIKey(tenant, name, admin)
			rec.RPM, rec.TPM = rpm, tpm
			if err := s.PutAPIKey(cmd.Context(), rec); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{
					"key": key, "tenant": tenant, "admin": admin, "name": name, "id": rec.Prefix})
			}
			fmt.Fprintln(cmd.OutOrStdout(), key)
			return nil
		},
	}
	create.Flags().StringVar(&tenant, "tenant", "", "tenant the key belongs to (required)")
	create.Flags().BoolVar(&admin, "admin", false, "the key may also manage deployments")
	create.Flags().StringVar(&name, "name", "", "a note to tell keys apart")
	create.Flags().IntVar(&rpm, "rpm", 0, "requests per minute the key may send (0: no limit)")
	create.Flags().IntVar(&tpm, "tpm", 0, "tokens per minute the key may use, reserved from max_tokens and the prompt's size (0: no limit)")
	_ = create.MarkFlagRequired("tenant")

	list := &cobra.Command{
		Use:   "list",
		Short: "List keys (their ids, never the keys)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			defer s.Close()
			keys, err := s.APIKeys(cmd.Context())
			if err != nil {
				return err
			}
			return printKeys(cmd, keys, asJSON)
		},
	}

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a key by its id (as list shows it) or its hash",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			defer s.Close()
			k, err := s.RevokeAPIKey(cmd.Context(), args[0])
			if err != nil {
				return exitError{code: 1, err: fmt.Errorf("revoke %s: %w", args[0], err)}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s (tenant %s)\n", k.Prefix, k.Tenant)
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func printKeys(cmd *cobra.Command, keys []state.APIKey, asJSON bool) error {
	if asJSON {
		out := []map[string]any{}
		for _, k := range keys {
			out = append(out, map[string]any{"id": k.Prefix, "hash": k.Hash, "tenant": k.Tenant,
				"admin": k.Admin, "name": k.Name, "rpm": k.RPM, "tpm": k.TPM, "created_at": k.Created.UTC().Format(time.RFC3339)})
		}
		return json.NewEncoder(cmd.OutOrStdout()).Encode(out)
	}
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tTENANT\tADMIN\tNAME\tCREATED")
	for _, k := range keys {
		fmt.Fprintf(w, "%s\t%s\t%v\t%s\t%s\n", k.Prefix, k.Tenant, k.Admin, k.Name, k.Created.UTC().Format(time.RFC3339))
	}
	return w.Flush()
}
