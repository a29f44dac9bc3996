package xds

import (
	"fmt"
	"time"

	bootstrap "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	upstreamhttp "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

const adsCluster = "graft-xds"

// BootstrapConfig is what an Envoy needs before it can ask for the rest.
type BootstrapConfig struct {
	NodeID    string // unique per Envoy
	XDSAddr   string // host:port of the ADS server
	AdminAddr string // host:port of Envoy's admin interface (keep it on loopback)
}

// Bootstrap returns Envoy's bootstrap as JSON: one static cluster (the ADS
// server, over HTTP/2) and everything else over ADS.
func Bootstrap(c BootstrapConfig) ([]byte, error) {
	xhost, xport, err := splitHostPort(c.XDSAddr)
	if err != nil {
		return nil, fmt.Errorf("xds: bootstrap: ADS address: %w", err)
	}
	ahost, aport, err := splitHostPort(c.AdminAddr)
	if err != nil {
		return nil, fmt.Errorf("xds: bootstrap: admin address: %w", err)
	}
	h2, err := anypb.New(&upstreamhttp.HttpProtocolOptions{
		UpstreamProtocolOptions: &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &core.Http2ProtocolOptions{},
				},
			},
		},
	})
	if err != nil {
		return nil, err
	}
	b := &bootstrap.Bootstrap{
		Node: &core.Node{Id: c.NodeID, Cluster: "graft"},
		DynamicResources: &bootstrap.Bootstrap_DynamicResources{
			AdsConfig: &core.ApiConfigSource{
				ApiType:             core.ApiConfigSource_GRPC,
				TransportApiVersion: core.ApiVersion_V3,
				GrpcServices: []*core.GrpcService{{TargetSpecifier: &core.GrpcService_EnvoyGrpc_{
					EnvoyGrpc: &core.GrpcService_EnvoyGrpc{ClusterName: adsCluster},
				}}},
				SetNodeOnFirstMessageOnly: true,
			},
			CdsConfig: adsSource(),
			LdsConfig: adsSource(),
		},
		StaticResources: &bootstrap.Bootstrap_StaticResources{Clusters: []*cluster.Cluster{{
			Name:                 adsCluster,
			ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC},
			ConnectTimeout:       durationpb.New(time.Second),
			LoadAssignment: &endpoint.ClusterLoadAssignment{
				ClusterName: adsCluster,
				Endpoints: []*endpoint.LocalityLbEndpoints{{LbEndpoints: []*endpoint.LbEndpoint{{
					HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{Address: socketAddress(xhost, xport)}},
				}}}},
			},
			TypedExtensionProtocolOptions: map[string]*anypb.Any{
				"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": h2,
			},
		}}},
		Admin: &bootstrap.Admin{Address: socketAddress(ahost, aport)},
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("xds: bootstrap: %w", err)
	}
	return protojson.MarshalOptions{Indent: "  "}.Marshal(b)
}
