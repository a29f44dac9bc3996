package xds

import (
	"time"

	xdscore "github.com/cncf/xds/go/xds/core/v3"
	xdsmatcher "github.com/cncf/xds/go/xds/type/matcher/v3"
	mutation "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	matching "github.com/envoyproxy/go-control-plane/envoy/extensions/common/matching/v3"
	dynmodcfg "github.com/envoyproxy/go-control-plane/envoy/extensions/dynamic_modules/v3"
	skipaction "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/matcher/action/v3"
	dynmod "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/dynamic_modules/v3"
	extproc "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	headermutation "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	router "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tls "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Defaults for a zero Listener field.
const (
	defaultMaxRequestBytes = 32 << 20
	defaultGatewayTimeout  = 2 * time.Minute
	// streamIdleTimeout ends a stream that moved no byte for this long; a
	// generating stream sends a token far more often.
	streamIdleTimeout = 5 * time.Minute
)

func httpsListener(in Input) *listener.Listener {
	host, port, _ := splitHostPort(in.Listener.Addr)
	limit := in.Listener.MaxRequestBytes
	if limit == 0 {
		limit = defaultMaxRequestBytes
	}
	return &listener.Listener{
		Name:    listenerName,
		Address: socketAddress(host, port),
		// The gateway sees the whole request body, so Envoy must be able to
		// buffer one: past this it answers 413 itself.
		PerConnectionBufferLimitBytes: wrapperspb.UInt32(limit),
		FilterChains: []*listener.FilterChain{{
			Filters: []*listener.Filter{{
				Name:       "envoy.filters.network.http_connection_manager",
				ConfigType: &listener.Filter_TypedConfig{TypedConfig: mustAny(connectionManager(in))},
			}},
			TransportSocket: &core.TransportSocket{
				Name:       "envoy.transport_sockets.tls",
				ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: mustAny(serverTLS(in.Listener))},
			},
		}},
	}
}

func connectionManager(in Input) *hcm.HttpConnectionManager {
	var filters []*hcm.HttpFilter
	if in.GatewayModule != nil {
		filters = append(filters, &hcm.HttpFilter{
			Name:       "graft.gateway",
			ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(moduleFilter(in.GatewayModule))},
		})
	}
	if in.Gateway != "" {
		// Responses pass these bottom up: the usage filter sees the
		// replica's usage trailer before the next one strips it.
		filters = append(filters, &hcm.HttpFilter{
			Name:       "envoy.filters.http.ext_proc",
			ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(gatewayFilter(in.Listener))},
		}, &hcm.HttpFilter{
			Name:       "graft.strip_usage",
			ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(stripUsageFilter())},
		}, &hcm.HttpFilter{
			Name:       "graft.usage",
			ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(unlessNoSettle("graft.usage", usageFilter()))},
		})
	}
	filters = append(filters, &hcm.HttpFilter{
		Name:       "envoy.filters.http.router",
		ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(&router.Router{})},
	})
	return &hcm.HttpConnectionManager{
		StatPrefix: "graft",
		CodecType:  hcm.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{
			RouteConfigName: routeConfigName,
			ConfigSource:    adsSource(),
		}},
		HttpFilters:       filters,
		StreamIdleTimeout: durationpb.New(streamIdleTimeout),
		RequestTimeout:    durationpb.New(0),
		Tracing:           tracing(in),
		AccessLog:         accessLog(in.Listener.AccessLog),
	}
}

// moduleFilter loads the gateway module. Envoy keeps it loaded (a Go
// runtime cannot be unloaded) and passes it the configuration as bytes.
func moduleFilter(m *GatewayModule) *dynmod.DynamicModuleFilter {
	return &dynmod.DynamicModuleFilter{
		DynamicModuleConfig: &dynmodcfg.DynamicModuleConfig{
			Module: &core.AsyncDataSource{Specifier: &core.AsyncDataSource_Local{
				Local: &core.DataSource{Specifier: &core.DataSource_Filename{Filename: m.File}},
			}},
			DoNotClose: true,
		},
		FilterName:   "graft.gateway",
		FilterConfig: mustAny(wrapperspb.Bytes(m.Config)),
	}
}

// MetadataNamespace holds what the gateway decided about a request (the
// key and the tokens it reserved), for its usage filter to send back.
const MetadataNamespace = "graft.gateway"

// gatewayFilter sends the request headers and the body to the gateway,
// which answers the headers with the route (and clear_route_cache) once it
// has read the body's model. The body follows the headers without waiting
// for their answer (streamed mode), so the gateway costs Envoy one round
// trip per request, not two (headers, then the buffered body).
// Responses are not sent, so SSE tokens flow straight to the client.
func gatewayFilter(l Listener) *extproc.ExternalProcessor {
	timeout := l.GatewayTimeout
	if timeout == 0 {
		timeout = defaultGatewayTimeout
	}
	f := &extproc.ExternalProcessor{
		GrpcService: &core.GrpcService{TargetSpecifier: &core.GrpcService_EnvoyGrpc_{
			EnvoyGrpc: &core.GrpcService_EnvoyGrpc{ClusterName: gatewayCluster},
		}},
		ProcessingMode: &extproc.ProcessingMode{
			RequestHeaderMode:   extproc.ProcessingMode_SEND,
			RequestBodyMode:     extproc.ProcessingMode_STREAMED,
			ResponseHeaderMode:  extproc.ProcessingMode_SKIP,
			ResponseBodyMode:    extproc.ProcessingMode_NONE,
			RequestTrailerMode:  extproc.ProcessingMode_SKIP,
			ResponseTrailerMode: extproc.ProcessingMode_SKIP,
		},
		// Envoy's 200 ms default would cut off a request the gateway holds
		// while its deployment wakes.
		MessageTimeout:                          durationpb.New(timeout),
		MaxMessageTimeout:                       durationpb.New(timeout),
		SendBodyWithoutWaitingForHeaderResponse: true,
		MetadataOptions: &extproc.MetadataOptions{ReceivingNamespaces: &extproc.MetadataOptions_MetadataNamespaces{
			Untyped: []string{MetadataNamespace},
		}},
	}
	return f
}

// usageFilter sends the replica's usage trailer, with what the gateway
// reserved for the request, to the gateway, which settles the key's token
// limit. It does not wait for an answer (observability mode): a response
// held open for one let a client's RST_STREAM, sent on reading the last
// event, race Envoy's HTTP/2 codec into closing the client's whole
// connection (GOAWAY INTERNAL_ERROR) with every other stream on it.
func usageFilter() *extproc.ExternalProcessor {
	return &extproc.ExternalProcessor{
		GrpcService: &core.GrpcService{TargetSpecifier: &core.GrpcService_EnvoyGrpc_{
			EnvoyGrpc: &core.GrpcService_EnvoyGrpc{ClusterName: gatewayCluster},
		}},
		ObservabilityMode: true,
		ProcessingMode: &extproc.ProcessingMode{
			RequestHeaderMode:   extproc.ProcessingMode_SKIP,
			ResponseHeaderMode:  extproc.ProcessingMode_SKIP,
			RequestTrailerMode:  extproc.ProcessingMode_SKIP,
			ResponseTrailerMode: extproc.ProcessingMode_SEND,
		},
		MetadataOptions: &extproc.MetadataOptions{ForwardingNamespaces: &extproc.MetadataOptions_MetadataNamespaces{
			Untyped: []string{MetadataNamespace},
		}},
		// The gateway's own span covers the settlement; an Envoy span per
		// request for a message nobody waits on would only add noise.
		EmitClientSpan: wrapperspb.Bool(false),
	}
}

// unlessNoSettle runs filter only on requests without HeaderNoSettle: most
// keys have no token limit, and their requests need no settlement.
func unlessNoSettle(name string, filter proto.Message) *matching.ExtensionWithMatcher {
	skip := &xdsmatcher.Matcher_OnMatch{OnMatch: &xdsmatcher.Matcher_OnMatch_Action{Action: &xdscore.TypedExtensionConfig{
		Name: "skip", TypedConfig: mustAny(&skipaction.SkipFilter{}),
	}}}
	return &matching.ExtensionWithMatcher{
		XdsMatcher: &xdsmatcher.Matcher{MatcherType: &xdsmatcher.Matcher_MatcherTree_{MatcherTree: &xdsmatcher.Matcher_MatcherTree{
			Input: &xdscore.TypedExtensionConfig{Name: HeaderNoSettle, TypedConfig: mustAny(&matcher.HttpRequestHeaderMatchInput{HeaderName: HeaderNoSettle})},
			TreeType: &xdsmatcher.Matcher_MatcherTree_ExactMatchMap{ExactMatchMap: &xdsmatcher.Matcher_MatcherTree_MatchMap{
				Map: map[string]*xdsmatcher.Matcher_OnMatch{"1": skip},
			}},
		}}},
		ExtensionConfig: &core.TypedExtensionConfig{Name: name, TypedConfig: mustAny(filter)},
	}
}

// stripUsageFilter keeps the usage trailer, the replica's report to the
// gateway, from the client.
func stripUsageFilter() *headermutation.HeaderMutation {
	return &headermutation.HeaderMutation{Mutations: &headermutation.Mutations{
		ResponseTrailersMutations: []*mutation.HeaderMutation{{
			Action: &mutation.HeaderMutation_Remove{Remove: TrailerUsage},
		}},
	}}
}

func serverTLS(l Listener) *tls.DownstreamTlsContext {
	return &tls.DownstreamTlsContext{CommonTlsContext: &tls.CommonTlsContext{
		TlsCertificates: []*tls.TlsCertificate{{
			CertificateChain: fileSource(l.CertFile),
			PrivateKey:       fileSource(l.KeyFile),
		}},
		AlpnProtocols: []string{"h2", "http/1.1"},
	}}
}

func fileSource(path string) *core.DataSource {
	return &core.DataSource{Specifier: &core.DataSource_Filename{Filename: path}}
}

// mustAny packs a message built here; only a type missing from the binary
// could fail, which is a build error in spirit. The packing is
// deterministic: a map inside (the access log's JSON format) packed in a
// random order would give every rebuild of an unchanged state a new digest,
// and each such push has Envoy replace its listener, draining the clients'
// connections.
func mustAny(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true})
	if err != nil {
		panic(err)
	}
	return a
}
