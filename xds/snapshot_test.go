package xds

import (
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	dynmod "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/graft-ai/graft/deploy/state"
)

func testInput() Input {
	return Input{
		Listener: Listener{Addr: "127.0.0.1:8443", CertFile: "/c.pem", KeyFile: "/k.pem"},
		Gateway:  "127.0.0.1:9001",
		Deployments: []Deployment{
			{Name: "a", Replicas: []Replica{{ID: "a-0", Host: "127.0.0.1", Port: 7001}, {ID: "a-1", Host: "127.0.0.1", Port: 7002}}},
			{Name: "b"},
		},
	}
}

func TestBuildIsValidConsistentAndVersionedByContent(t *testing.T) {
	s1, err := Build(testInput())
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Build(testInput())
	if err != nil {
		t.Fatal(err)
	}
	if v1, v2 := s1.GetVersion(resource.ListenerType), s2.GetVersion(resource.ListenerType); v1 != v2 || v1 == "" {
		t.Fatalf("equal inputs gave versions %q and %q", v1, v2)
	}
	in := testInput()
	in.Deployments[0].Replicas = in.Deployments[0].Replicas[:1]
	s3, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if s3.GetVersion(resource.ListenerType) == s1.GetVersion(resource.ListenerType) {
		t.Fatal("removing a replica did not change the version")
	}
	clusters := s1.GetResources(resource.ClusterType)
	if len(clusters) != 3 { // gateway + two deployments
		t.Fatalf("clusters: %v", len(clusters))
	}
	c := clusters[ClusterName("a")].(*cluster.Cluster)
	if c.GetLbPolicy() != cluster.Cluster_RING_HASH || c.GetCommonLbConfig().GetConsistentHashingLbConfig().GetHashBalanceFactor().GetValue() != hashBalanceFactor {
		t.Fatalf("deployment cluster is not a bounded-load ring: %v", c)
	}
	cla := s1.GetResources(resource.EndpointType)[ClusterName("a")].(*endpoint.ClusterLoadAssignment)
	eps := cla.GetEndpoints()[0].GetLbEndpoints()
	if len(eps) != 2 || eps[0].GetMetadata().GetFilterMetadata()["envoy.lb"].GetFields()["hash_key"].GetStringValue() != "a-0" {
		t.Fatalf("endpoints of a: %v", eps)
	}
}

// TestBuildWithAccessLogIsVersionedByContent: the access log's JSON format
// is a map packed into an Any; packed in map order, each rebuild of the same
// state got a new version, and each push made Envoy replace its listener.
func TestBuildWithAccessLogIsVersionedByContent(t *testing.T) {
	in := testInput()
	in.Listener.AccessLog = "/access.log"
	first := ""
	for range 20 {
		s, err := Build(in)
		if err != nil {
			t.Fatal(err)
		}
		v := s.GetVersion(resource.ListenerType)
		if first == "" {
			first = v
		}
		if v != first {
			t.Fatalf("the same input gave versions %q and %q", first, v)
		}
	}
}

func TestBuildRejectsBadInput(t *testing.T) {
	for name, mut := range map[string]func(*Input){
		"no listener port": func(in *Input) { in.Listener.Addr = "127.0.0.1" },
		"no certificate":   func(in *Input) { in.Listener.CertFile = "" },
		"duplicate":        func(in *Input) { in.Deployments = append(in.Deployments, Deployment{Name: "a"}) },
		"bad gateway":      func(in *Input) { in.Gateway = "nowhere" },
		"zero port":        func(in *Input) { in.Deployments[0].Replicas[0].Port = 0 },
		"module and ext_proc": func(in *Input) {
			in.GatewayModule = &GatewayModule{File: "/m/libgraft_gateway.so"}
		},
		"relative module": func(in *Input) {
			in.Gateway, in.GatewayModule = "", &GatewayModule{File: "libgraft_gateway.so"}
		},
	} {
		in := testInput()
		mut(&in)
		if _, err := Build(in); err == nil {
			t.Errorf("%s: built", name)
		}
	}
}

func TestDeploymentsKeepsReadyReplicasOfNamedDeployments(t *testing.T) {
	reps := []state.Replica{
		{Deployment: "a", ID: "r2", Addr: "127.0.0.1:7002", State: state.StateReady},
		{Deployment: "a", ID: "r1", Addr: "http://127.0.0.1:7001", State: state.StateReady},
		{Deployment: "a", ID: "r3", Addr: "127.0.0.1:7003", State: state.StateDraining},
		{Deployment: "z", ID: "r9", Addr: "127.0.0.1:7009", State: state.StateReady},
	}
	ds := Deployments([]string{"b", "a", "a"}, reps)
	if len(ds) != 2 || ds[0].Name != "a" || ds[1].Name != "b" || len(ds[1].Replicas) != 0 {
		t.Fatalf("deployments: %+v", ds)
	}
	if r := ds[0].Replicas; len(r) != 2 || r[0].ID != "r1" || r[0].Port != 7001 || r[1].ID != "r2" {
		t.Fatalf("replicas of a: %+v", r)
	}
}

// The gateway may listen on a Unix socket (unix:PATH): Envoy's cluster for
// it then dials that path.
func TestGatewayOverUnixSocket(t *testing.T) {
	in := testInput()
	in.Gateway = "unix:/tmp/graft-gateway-x/ext_proc.sock"
	s, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := s.GetResources(resource.ClusterType)[gatewayCluster].(*cluster.Cluster)
	if !ok {
		t.Fatal("no gateway cluster")
	}
	addr := c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress()
	if got := addr.GetPipe().GetPath(); got != "/tmp/graft-gateway-x/ext_proc.sock" {
		t.Fatalf("gateway cluster address %v", addr)
	}
}

// TestGatewayAsModule: with the module, the listener's first filter loads
// it (kept loaded, its configuration as bytes) and there is no ext_proc
// filter or gateway cluster; the snapshot passes ValidateAll.
func TestGatewayAsModule(t *testing.T) {
	in := testInput()
	in.Gateway = ""
	in.GatewayModule = &GatewayModule{File: "/m/libgraft_gateway.so", Config: []byte(`{"redis":"redis://127.0.0.1:6379/0"}`)}
	s, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.GetResources(resource.ClusterType)[gatewayCluster]; ok {
		t.Error("a gateway cluster with the gateway in Envoy")
	}
	l := s.GetResources(resource.ListenerType)[listenerName].(*listener.Listener)
	var m hcm.HttpConnectionManager
	if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&m); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range m.GetHttpFilters() {
		names = append(names, f.GetName())
	}
	if len(names) != 2 || names[0] != "graft.gateway" || names[1] != "envoy.filters.http.router" {
		t.Fatalf("filters %v, want the module, then the router", names)
	}
	var f dynmod.DynamicModuleFilter
	if err := m.GetHttpFilters()[0].GetTypedConfig().UnmarshalTo(&f); err != nil {
		t.Fatal(err)
	}
	var cfg wrapperspb.BytesValue
	if err := f.GetFilterConfig().UnmarshalTo(&cfg); err != nil {
		t.Fatal(err)
	}
	mc := f.GetDynamicModuleConfig()
	if mc.GetModule().GetLocal().GetFilename() != "/m/libgraft_gateway.so" || !mc.GetDoNotClose() || string(cfg.GetValue()) != string(in.GatewayModule.Config) {
		t.Fatalf("module filter %v", &f)
	}
}
