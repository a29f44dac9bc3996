package xds

import (
	"strings"
	"time"

	"github.com/graft-ai/graft/routing/ring"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	upstreamhttp "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// hashBalanceFactor bounds a replica's load at ring.BalanceFactor% of the
// average in flight: requests for one adapter stick to the replicas holding
// it until those are that much busier than the rest, then spill over
// (Envoy's bounded load).
const hashBalanceFactor = ring.BalanceFactor

// deploymentCluster routes by the gateway's route key on a ring, so one
// adapter's requests land on the replicas that already hold it. Endpoints
// come over ADS.
func deploymentCluster(name string) *cluster.Cluster {
	return &cluster.Cluster{
		Name:                 ClusterName(name),
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS},
		EdsClusterConfig: &cluster.Cluster_EdsClusterConfig{
			EdsConfig: adsSource(),
		},
		ConnectTimeout: durationpb.New(2 * time.Second),
		LbPolicy:       cluster.Cluster_RING_HASH,
		LbConfig: &cluster.Cluster_RingHashLbConfig_{RingHashLbConfig: &cluster.Cluster_RingHashLbConfig{
			MinimumRingSize: wrapperspb.UInt64(ring.DefaultMinRingSize),
		}},
		CommonLbConfig: &cluster.Cluster_CommonLbConfig{
			ConsistentHashingLbConfig: &cluster.Cluster_CommonLbConfig_ConsistentHashingLbConfig{
				HashBalanceFactor: wrapperspb.UInt32(hashBalanceFactor),
			},
		},
		// A dead replica leaves the ring within seconds, before its
		// heartbeat expires: health checks on the sidecar's /readyz, and
		// ejection after consecutive connect failures or 5xx.
		HealthChecks: []*core.HealthCheck{{
			Timeout:            durationpb.New(time.Second),
			Interval:           durationpb.New(time.Second),
			UnhealthyThreshold: wrapperspb.UInt32(2),
			HealthyThreshold:   wrapperspb.UInt32(1),
			HealthChecker: &core.HealthCheck_HttpHealthCheck_{HttpHealthCheck: &core.HealthCheck_HttpHealthCheck{
				Path: "/readyz",
				// Envoy's default Host is the cluster name, "deployment/x",
				// which Go's server refuses as malformed (400): every replica
				// would stay unhealthy and Envoy would route in panic mode.
				Host: "graft-health-check",
			}},
		}},
		// A replica gone from EDS leaves the ring at once, even while its
		// health check still passes (Envoy would otherwise keep it).
		IgnoreHealthOnHostRemoval: true,
		OutlierDetection: &cluster.OutlierDetection{
			Consecutive_5Xx:                wrapperspb.UInt32(3),
			ConsecutiveGatewayFailure:      wrapperspb.UInt32(2),
			ConsecutiveLocalOriginFailure:  wrapperspb.UInt32(2),
			SplitExternalLocalOriginErrors: true,
			Interval:                       durationpb.New(time.Second),
			BaseEjectionTime:               durationpb.New(5 * time.Second),
			MaxEjectionPercent:             wrapperspb.UInt32(100),
		},
		// A replica queues requests itself and answers 429 past its bound;
		// Envoy's default of 1024 pending would cut in first under a burst.
		CircuitBreakers: &cluster.CircuitBreakers{Thresholds: []*cluster.CircuitBreakers_Thresholds{{
			MaxConnections: wrapperspb.UInt32(1 << 20), MaxPendingRequests: wrapperspb.UInt32(1 << 20),
			MaxRequests: wrapperspb.UInt32(1 << 20),
			// Each request retries at most twice (the route's policy); Envoy's
			// default of 3 retries in flight per cluster would turn the
			// connect failures of a dead replica under load into 503s.
			MaxRetries: wrapperspb.UInt32(1 << 20),
		}}},
		// HTTP/1.1 to the sidecar with trailers kept: the sidecar ends each
		// response with its token usage as a trailer, which the gateway reads
		// to settle the request's rate-limit reservation.
		TypedExtensionProtocolOptions: protocolOptions(&upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{
				HttpProtocolOptions: &core.Http1ProtocolOptions{EnableTrailers: true},
			},
		}),
	}
}

// protocolOptions pins a cluster's upstream protocol.
func protocolOptions(c *upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig) map[string]*anypb.Any {
	opts, err := anypb.New(&upstreamhttp.HttpProtocolOptions{
		UpstreamProtocolOptions: &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: c},
	})
	if err != nil {
		panic(err) // marshalling a well-formed message in memory cannot fail
	}
	return map[string]*anypb.Any{"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": opts}
}

func loadAssignment(d Deployment) *endpoint.ClusterLoadAssignment {
	var lbs []*endpoint.LbEndpoint
	for _, r := range d.Replicas {
		lbs = append(lbs, &endpoint.LbEndpoint{
			HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{
				Address:  socketAddress(r.Host, r.Port),
				Hostname: r.ID,
			}},
			// The replica id, not its address, places it on the ring: a
			// replica restarted on a new port keeps its adapters' keys.
			Metadata: &core.Metadata{FilterMetadata: map[string]*structpb.Struct{
				"envoy.lb": {Fields: map[string]*structpb.Value{"hash_key": structpb.NewStringValue(r.ID)}},
			}},
		})
	}
	return &endpoint.ClusterLoadAssignment{
		ClusterName: ClusterName(d.Name),
		Endpoints:   []*endpoint.LocalityLbEndpoints{{LbEndpoints: lbs}},
	}
}

// staticCluster is one fixed address: the gateway's ext_proc service (gRPC,
// so HTTP/2 upstream) or the management API.
func staticCluster(name, addr string, h2 bool) (*cluster.Cluster, error) {
	address, err := staticAddress(addr)
	if err != nil {
		return nil, err
	}
	c := &cluster.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_STATIC},
		ConnectTimeout:       durationpb.New(2 * time.Second),
		LoadAssignment: &endpoint.ClusterLoadAssignment{
			ClusterName: name,
			Endpoints: []*endpoint.LocalityLbEndpoints{{LbEndpoints: []*endpoint.LbEndpoint{{
				HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{Address: address}},
			}}}},
		},
	}
	if h2 {
		c.TypedExtensionProtocolOptions = protocolOptions(&upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &upstreamhttp.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
				Http2ProtocolOptions: &core.Http2ProtocolOptions{},
			},
		})
	}
	return c, nil
}

func socketAddress(host string, port uint32) *core.Address {
	return &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
		Address: host, PortSpecifier: &core.SocketAddress_PortValue{PortValue: port},
	}}}
}

func adsSource() *core.ConfigSource {
	return &core.ConfigSource{
		ResourceApiVersion:    core.ApiVersion_V3,
		ConfigSourceSpecifier: &core.ConfigSource_Ads{Ads: &core.AggregatedConfigSource{}},
	}
}

// staticAddress is host:port, or unix:PATH for a Unix socket on this machine.
func staticAddress(addr string) (*core.Address, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return &core.Address{Address: &core.Address_Pipe{Pipe: &core.Pipe{Path: path}}}, nil
	}
	host, port, err := splitHostPort(addr)
	if err != nil {
		return nil, err
	}
	return socketAddress(host, port), nil
}
