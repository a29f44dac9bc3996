package xds

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
)

// Resource names shared between the builders.
const (
	listenerName    = "graft-https"
	routeConfigName = "graft"
	gatewayCluster  = "graft-gateway"
	controlCluster  = "graft-control"
)

// ClusterName is the Envoy cluster of a deployment's replicas.
func ClusterName(deployment string) string { return "deployment/" + deployment }

// validator is what every Envoy resource type generates from its proto rules.
type validator interface{ ValidateAll() error }

// Build turns in into a snapshot and checks it: every resource passes its
// proto rules (ValidateAll) and the snapshot is consistent (every cluster
// has its endpoints, every listener its route configuration). The version is
// a digest of the resources, so equal inputs give equal versions.
func Build(in Input) (*cache.Snapshot, error) {
	if err := checkInput(in); err != nil {
		return nil, err
	}
	res := map[resource.Type][]types.Resource{
		resource.ListenerType: {httpsListener(in)},
		resource.RouteType:    {routeConfig(in.Deployments, in.ControlAPI != "")},
	}
	if in.Gateway != "" {
		gw, err := staticCluster(gatewayCluster, in.Gateway, true)
		if err != nil {
			return nil, err
		}
		res[resource.ClusterType] = append(res[resource.ClusterType], gw)
	}
	if in.ControlAPI != "" {
		c, err := staticCluster(controlCluster, in.ControlAPI, false)
		if err != nil {
			return nil, err
		}
		res[resource.ClusterType] = append(res[resource.ClusterType], c)
	}
	if in.OTLP != "" {
		c, err := staticCluster(otlpCluster, in.OTLP, true)
		if err != nil {
			return nil, fmt.Errorf("xds: OTLP collector: %w", err)
		}
		res[resource.ClusterType] = append(res[resource.ClusterType], c)
	}
	for _, d := range in.Deployments {
		res[resource.ClusterType] = append(res[resource.ClusterType], deploymentCluster(d.Name))
		res[resource.EndpointType] = append(res[resource.EndpointType], loadAssignment(d))
	}
	version, err := digest(res)
	if err != nil {
		return nil, err
	}
	snap, err := cache.NewSnapshot(version, res)
	if err != nil {
		return nil, err
	}
	if err := snap.Consistent(); err != nil {
		return nil, fmt.Errorf("xds: inconsistent snapshot: %w", err)
	}
	return snap, nil
}

func checkInput(in Input) error {
	if _, _, err := splitHostPort(in.Listener.Addr); err != nil {
		return fmt.Errorf("xds: listener address: %w", err)
	}
	if in.Listener.CertFile == "" || in.Listener.KeyFile == "" {
		return fmt.Errorf("xds: the HTTPS listener needs a certificate and a key")
	}
	if m := in.GatewayModule; m != nil {
		if in.Gateway != "" {
			return fmt.Errorf("xds: the gateway is either a module or an ext_proc service, not both")
		}
		if !filepath.IsAbs(m.File) {
			return fmt.Errorf("xds: the gateway module %q is not an absolute path", m.File)
		}
	}
	seen := map[string]bool{}
	for _, d := range in.Deployments {
		if seen[d.Name] {
			return fmt.Errorf("xds: deployment %q listed twice", d.Name)
		}
		seen[d.Name] = true
		for _, r := range d.Replicas {
			if r.ID == "" || r.Host == "" || r.Port == 0 {
				return fmt.Errorf("xds: deployment %q: replica %q at %s:%d is not routable", d.Name, r.ID, r.Host, r.Port)
			}
		}
	}
	return nil
}

// digest validates each resource and hashes their deterministic encodings in
// type order.
func digest(res map[resource.Type][]types.Resource) (string, error) {
	h := sha256.New()
	for _, t := range []resource.Type{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType} {
		for _, r := range res[t] {
			if v, ok := r.(validator); ok {
				if err := v.ValidateAll(); err != nil {
					return "", fmt.Errorf("xds: invalid %s %q: %w", t, cache.GetResourceName(r), err)
				}
			}
			b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
			if err != nil {
				return "", err
			}
			h.Write([]byte(t))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
