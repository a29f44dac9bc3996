package xds

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	xdsserver "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// Server serves one snapshot to every Envoy over ADS (and the per-type
// services, for proxies that do not aggregate).
type Server struct {
	cache cache.SnapshotCache
	grpc  *grpc.Server
	lis   net.Listener

	mu      sync.Mutex
	current *cache.Snapshot
	nodes   map[string]bool // node ids that have connected
	metrics *metrics
}

// NewServer listens on addr (host:port, ":0" for a free port).
func NewServer(addr string) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("xds: %w", err)
	}
	s := &Server{lis: lis, nodes: map[string]bool{}, metrics: newMetrics()}
	// Every Envoy gets the same configuration, so one snapshot is kept
	// under one key whatever the node id.
	s.cache = cache.NewSnapshotCache(true, sameForAll{}, nil)
	srv := xdsserver.NewServer(context.Background(), s.cache, xdsserver.CallbackFuncs{
		StreamOpenFunc: func(_ context.Context, id int64, _ string) error {
			s.metrics.opened(id)
			return nil
		},
		StreamClosedFunc: func(id int64, _ *core.Node) { s.metrics.closed(id) },
		StreamRequestFunc: func(id int64, r *discovery.DiscoveryRequest) error {
			s.noteNode(r.GetNode().GetId())
			s.metrics.request(id, r)
			return nil
		},
	})
	s.grpc = grpc.NewServer()
	discovery.RegisterAggregatedDiscoveryServiceServer(s.grpc, srv)
	clusterservice.RegisterClusterDiscoveryServiceServer(s.grpc, srv)
	endpointservice.RegisterEndpointDiscoveryServiceServer(s.grpc, srv)
	listenerservice.RegisterListenerDiscoveryServiceServer(s.grpc, srv)
	routeservice.RegisterRouteDiscoveryServiceServer(s.grpc, srv)
	return s, nil
}

// Register adds the server's metrics (snapshot version, pushes, connected
// Envoys, push latency, rejections) to reg.
func (s *Server) Register(reg prometheus.Registerer) error {
	for _, c := range s.metrics.collectors() {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("xds: metrics: %w", err)
		}
	}
	return nil
}

// Addr is where the ADS service listens.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Serve runs the gRPC service until ctx ends.
func (s *Server) Serve(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		s.grpc.Stop()
	}()
	if err := s.grpc.Serve(s.lis); err != nil && ctx.Err() == nil {
		return fmt.Errorf("xds: %w", err)
	}
	return nil
}

// Update builds and checks a snapshot of in and, when it differs from the
// current one, pushes it to every Envoy. An input that does not build leaves
// the current configuration in place.
func (s *Server) Update(ctx context.Context, in Input) (version string, err error) {
	snap, err := Build(in)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != nil && snapVersion(s.current) == snapVersion(snap) {
		return snapVersion(snap), nil
	}
	if err := s.cache.SetSnapshot(ctx, snapshotKey, snap); err != nil {
		return "", fmt.Errorf("xds: %w", err)
	}
	s.current = snap
	s.metrics.pushed(snapVersion(snap))
	slog.Info("xds: pushed snapshot", "version", snapVersion(snap), "deployments", len(in.Deployments))
	return snapVersion(snap), nil
}

// Snapshot is the configuration every Envoy gets now; nil before the first
// Update.
func (s *Server) Snapshot() *cache.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// Nodes returns the ids of the proxies that have asked for configuration.
func (s *Server) Nodes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range s.nodes {
		ids = append(ids, id)
	}
	return ids
}

func (s *Server) noteNode(id string) {
	s.mu.Lock()
	s.nodes[id] = true
	s.mu.Unlock()
}

const snapshotKey = "graft"

type sameForAll struct{}

func (sameForAll) ID(*core.Node) string { return snapshotKey }

func snapVersion(s *cache.Snapshot) string {
	return s.GetVersion(resource.ListenerType)
}
