package xds

import (
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

// noDeployment is what a request that names no known deployment gets: the
// OpenAI error shape, as every other API error.
const noDeployment = `{"error":{"message":"The model does not exist or you do not have access to it.","type":"invalid_request_error","param":"model","code":"model_not_found"}}`

// routeConfig sends each deployment's requests to its cluster, hashing on
// the route key. Routes have no timeout: a stream lasts as long as its
// generation, and the listener's idle timeout catches a stalled one.
func routeConfig(ds []Deployment) *route.RouteConfiguration {
	var routes []*route.Route
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
		}},
	}
}
