package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/xds"
)

func init() { register(newBootstrapCommand) }

// newBootstrapCommand writes an Envoy bootstrap for an xDS server found by
// name. The bootstrap's ADS cluster is static, and Envoy takes only IP
// addresses there, so in a cluster the name (the xDS Service) is resolved
// where Envoy runs, at its pod's start.
func newBootstrapCommand() *cobra.Command {
	var xdsAddr, admin, node, out string
	cmd := &cobra.Command{
		Use:   "envoy-bootstrap --xds HOST:PORT --out FILE",
		Short: "Write the Envoy bootstrap that points at graft xds, resolving its host name",
		Long: `Write the Envoy bootstrap for the graft xds server at --xds, as graft xds
--bootstrap does for itself, but for an Envoy elsewhere: a host name (a
Kubernetes Service) is resolved to its address first, since Envoy's static
ADS cluster takes only IP addresses. In Kubernetes it runs as Envoy's init
container; the Service's cluster IP lasts as long as the Service.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr, err := resolveHostPort(cmd.Context(), xdsAddr)
			if err != nil {
				return exitError{code: 2, err: fmt.Errorf("--xds: %w", err)}
			}
			b, err := xds.Bootstrap(xds.BootstrapConfig{NodeID: node, XDSAddr: addr, AdminAddr: admin})
			if err != nil {
				return exitError{code: 2, err: err}
			}
			return os.WriteFile(out, b, 0o644)
		},
	}
	f := cmd.Flags()
	f.StringVar(&xdsAddr, "xds", "", "HOST:PORT of graft xds's ADS service; HOST may be a name (required)")
	f.StringVar(&admin, "envoy-admin", "127.0.0.1:9901", "Envoy's admin address (keep it on loopback)")
	f.StringVar(&node, "node-id", "envoy", "this Envoy's node id, unique per Envoy (in Kubernetes: the pod name)")
	f.StringVar(&out, "out", "", "file to write the bootstrap to (required)")
	_ = cmd.MarkFlagRequired("xds")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// resolveHostPort turns HOST:PORT into IP:PORT, the first address HOST has.
func resolveHostPort(ctx context.Context, hostport string) (string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", err
	}
	if net.ParseIP(host) != nil {
		return hostport, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(ips[0], port), nil
}
