package xds

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

// otlpCluster is the OTLP/gRPC collector Envoy sends its spans to.
const otlpCluster = "graft-otlp"

// EnvoyServiceName is the service.name of Envoy's spans.
const EnvoyServiceName = "envoy"

// tracing makes Envoy start (or continue, from a client's traceparent) one
// trace per request and pass it on: to the gateway in the ext_proc call's
// metadata and to the replica in the upstream request's traceparent. Nil
// without a collector, so an untraced front pays nothing.
func tracing(in Input) *hcm.HttpConnectionManager_Tracing {
	if in.OTLP == "" {
		return nil
	}
	ratio := in.TraceRatio
	if ratio <= 0 || ratio > 1 {
		ratio = 1
	}
	return &hcm.HttpConnectionManager_Tracing{
		RandomSampling: &typev3.Percent{Value: ratio * 100},
		Provider: &tracev3.Tracing_Http{
			Name: "envoy.tracers.opentelemetry",
			ConfigType: &tracev3.Tracing_Http_TypedConfig{TypedConfig: mustAny(&tracev3.OpenTelemetryConfig{
				GrpcService: &core.GrpcService{TargetSpecifier: &core.GrpcService_EnvoyGrpc_{
					EnvoyGrpc: &core.GrpcService_EnvoyGrpc{ClusterName: otlpCluster},
				}},
				ServiceName: EnvoyServiceName,
			})},
		},
	}
}
