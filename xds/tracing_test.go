package xds

import (
	"testing"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

func builtHCM(t *testing.T, in Input) (*hcm.HttpConnectionManager, int) {
	t.Helper()
	s, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	l := s.GetResources(resource.ListenerType)[listenerName].(*listener.Listener)
	var m hcm.HttpConnectionManager
	if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&m); err != nil {
		t.Fatal(err)
	}
	_, hasOTLP := s.GetResources(resource.ClusterType)[otlpCluster]
	n := 0
	if hasOTLP {
		n = 1
	}
	return &m, n
}

// TestTracingFollowsTheCollector: a collector address turns on Envoy's
// OpenTelemetry tracer with a cluster for it; none leaves Envoy untraced.
func TestTracingFollowsTheCollector(t *testing.T) {
	m, n := builtHCM(t, testInput())
	if m.GetTracing() != nil || n != 0 {
		t.Fatalf("no collector, yet tracing %v and %d OTLP clusters", m.GetTracing(), n)
	}
	in := testInput()
	in.OTLP, in.TraceRatio = "127.0.0.1:4317", 0.25
	m, n = builtHCM(t, in)
	tr := m.GetTracing()
	if tr.GetProvider().GetName() != "envoy.tracers.opentelemetry" || n != 1 {
		t.Fatalf("tracing %v, %d OTLP clusters", tr, n)
	}
	var oc tracev3.OpenTelemetryConfig
	if err := tr.GetProvider().GetTypedConfig().UnmarshalTo(&oc); err != nil {
		t.Fatal(err)
	}
	if oc.GetGrpcService().GetEnvoyGrpc().GetClusterName() != otlpCluster || oc.GetServiceName() != EnvoyServiceName {
		t.Fatalf("OpenTelemetry config %v", &oc)
	}
	if got := tr.GetRandomSampling().GetValue(); got != 25 {
		t.Fatalf("random sampling %v%%, want 25%%", got)
	}
	in.OTLP = "no-port"
	if _, err := Build(in); err == nil {
		t.Fatal("a collector address without a port built")
	}
}
