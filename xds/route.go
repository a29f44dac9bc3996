package xds

import (
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	previoushosts "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// noDeployment is what a request that names no known deployment gets: the
// OpenAI error shape, as every other API error.
const noDeployment = `{"error":{"message":"The model does not exist or you do not have access to it.","type":"invalid_request_error","param":"model","code":"model_not_found"}}`

// routeConfig sends each deployment's requests to its cluster, hashing on
// the route key. Routes have no timeout: a stream lasts as long as its
// generation, and the listener's idle timeout catches a stalled one.
func routeConfig(ds []Deployment, control bool) *route.RouteConfiguration {
	var routes []*route.Route
	if control {
		routes = append(routes, &route.Route{
			Name:  controlCluster,
			Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: ManagementPrefix}},
			Action: &route.Route_Route{Route: &route.RouteAction{
				ClusterSpecifier: &route.RouteAction_Cluster{Cluster: controlCluster},
			}},
		})
		for _, p := range TenantPrefixes {
			routes = append(routes, &route.Route{
				Name:  controlCluster + p,
				Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: p}},
				Action: &route.Route_Route{Route: &route.RouteAction{
					ClusterSpecifier: &route.RouteAction_Cluster{Cluster: controlCluster},
					// An upload of a large dataset takes longer than
					// Envoy's 15 s default.
					Timeout: durationpb.New(5 * time.Minute),
				}},
			})
		}
	}
	for _, d := range ds {
		routes = append(routes, &route.Route{
			Name: ClusterName(d.Name),
			Match: &route.RouteMatch{
				PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"},
				Headers: []*route.HeaderMatcher{{
					Name: HeaderDeployment,
					HeaderMatchSpecifier: &route.HeaderMatcher_StringMatch{StringMatch: &matcher.StringMatcher{
						MatchPattern: &matcher.StringMatcher_Exact{Exact: d.Name},
					}},
				}},
			},
			Action: &route.Route_Route{Route: &route.RouteAction{
				ClusterSpecifier: &route.RouteAction_Cluster{Cluster: ClusterName(d.Name)},
				Timeout:          durationpb.New(0),
				// A request that never reached a replica, that a draining
				// replica refused with 503, or whose connection a replica
				// closed before answering (a draining sidecar closes its idle
				// keep-alive connections, racing a request Envoy just sent
				// on one; a killed replica), goes to another one. Retries
				// happen only before response headers, so no stream repeats.
				RetryPolicy: &route.RetryPolicy{
					RetryOn:              "connect-failure,refused-stream,reset,retriable-status-codes",
					RetriableStatusCodes: []uint32{503},
					NumRetries:           wrapperspb.UInt32(2),
					RetryHostPredicate: []*route.RetryPolicy_RetryHostPredicate{{
						Name: "envoy.retry_host_predicates.previous_hosts",
						ConfigType: &route.RetryPolicy_RetryHostPredicate_TypedConfig{
							TypedConfig: mustAny(&previoushosts.PreviousHostsPredicate{}),
						},
					}},
					HostSelectionRetryMaxAttempts: 5,
				},
				HashPolicy: []*route.RouteAction_HashPolicy{{
					PolicySpecifier: &route.RouteAction_HashPolicy_Header_{Header: &route.RouteAction_HashPolicy_Header{
						HeaderName: HeaderRouteKey,
					}},
				}},
			}},
		})
	}
	routes = append(routes, &route.Route{
		Name:  "no-deployment",
		Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
		Action: &route.Route_DirectResponse{DirectResponse: &route.DirectResponseAction{
			Status: 404,
			Body:   &core.DataSource{Specifier: &core.DataSource_InlineString{InlineString: noDeployment}},
		}},
		ResponseHeadersToAdd: []*core.HeaderValueOption{{
			Header: &core.HeaderValue{Key: "content-type", Value: "application/json"},
		}},
	})
	return &route.RouteConfiguration{
		Name: routeConfigName,
		VirtualHosts: []*route.VirtualHost{{
			Name:    "graft",
			Domains: []string{"*"},
			Routes:  routes,
			// The gateway's word to Envoy's usage filter, not the replica's.
			RequestHeadersToRemove: []string{HeaderNoSettle},
		}},
	}
}
