// Package xds is Graft's Envoy control plane: it turns the platform's state
// (deployments and their ready replicas) into Envoy listeners, routes,
// clusters and endpoints, checks them, and serves them over ADS.
//
// Building is pure: Build maps an Input to one immutable snapshot whose
// version is a digest of its contents, so an unchanged state never makes
// Envoy re-apply anything. Server owns the snapshot cache and the gRPC
// service; Run feeds it from deploy/state.
package xds

import (
	"slices"
	"strings"
	"time"

	"github.com/graft-ai/graft/deploy/state"
)

// Input is everything a snapshot is built from.
type Input struct {
	Listener Listener
	Gateway  string // host:port of the gateway's ext_proc gRPC service; "" routes on client headers alone
	// GatewayModule, instead of Gateway, loads the gateway into Envoy.
	GatewayModule *GatewayModule
	// ControlAPI is host:port of the management API; "" leaves it off the
	// front. Its paths (ManagementPrefix) route there, past the gateway's
	// admin-key check.
	ControlAPI  string
	Deployments []Deployment
	// OTLP is host:port of an OTLP/gRPC trace collector; "" traces nothing.
	OTLP string
	// TraceRatio is the fraction of requests without a sampled traceparent
	// that Envoy starts a trace for; 0 means all.
	TraceRatio float64
}

// GatewayModule is the gateway built as an Envoy dynamic module
// (cmd/graft-envoy-gateway). Envoy loads it once and runs its decisions on
// the worker thread that received each request: no ext_proc stream, no
// process hand-off. It settles token reservations from the usage trailer
// itself.
type GatewayModule struct {
	File   string // the module's shared object, an absolute path
	Config []byte // its JSON configuration (gateway.ModuleConfig)
}

// Listener is the public HTTPS front.
type Listener struct {
	Addr            string // host:port Envoy listens on
	CertFile        string // PEM server certificate chain
	KeyFile         string // PEM private key
	MaxRequestBytes uint32 // largest request body Envoy buffers for the gateway
	// GatewayTimeout bounds one exchange with the gateway, including the time
	// it holds a request for a deployment that is waking up.
	GatewayTimeout time.Duration
	// AccessLog, when set, is a file Envoy appends one JSON line per
	// request to, with where the request's time went (see AccessLogEntry).
	AccessLog string
}

// Deployment is one routable deployment and the replicas that may serve it.
type Deployment struct {
	Name     string
	Replicas []Replica
}

// Replica is one ready endpoint of a deployment.
type Replica struct {
	ID   string // stable across restarts at a new address: it pins the ring position
	Host string
	Port uint32
}

// ManagementPrefix is the path prefix of the management API.
const ManagementPrefix = "/v1/deployments"

// TenantPrefixes are the control API's paths open to every tenant's key:
// OpenAI's files and fine-tuning API, whose objects belong to the tenant.
var TenantPrefixes = []string{"/v1/files", "/v1/fine_tuning"}

// Route headers the gateway sets (and, without a gateway, the client).
const (
	HeaderDeployment = "x-graft-deployment"
	HeaderAdapter    = "x-graft-adapter"
	HeaderRouteKey   = "x-graft-route-key"
	// HeaderNoSettle, set to "1" by the gateway on a request whose key has
	// no token reservation to settle, spares it the usage filter's call
	// (a gRPC stream per request); Envoy drops it before the replica.
	HeaderNoSettle = "x-graft-no-settle"
	// TrailerUsage ends a replica's response with its total tokens (prompt
	// plus completion), for the gateway's rate limits; the sidecar writes it
	// under the same name.
	TrailerUsage = "x-graft-usage-tokens"
)

// Deployments groups the ready replicas of reps under the given deployment
// names; a name without ready replicas still gets a (empty) deployment, so its
// route exists and answers 503 rather than 404. Replicas of deployments not
// named are ignored. The result is sorted, so equal states build equal
// snapshots.
func Deployments(names []string, reps []state.Replica) []Deployment {
	byName := map[string]*Deployment{}
	var out []Deployment
	names = slices.Clone(names)
	slices.Sort(names)
	names = slices.Compact(names)
	for _, n := range names {
		out = append(out, Deployment{Name: n})
	}
	for i := range out {
		byName[out[i].Name] = &out[i]
	}
	for _, r := range reps {
		d := byName[r.Deployment]
		if d == nil || r.State != state.StateReady {
			continue
		}
		host, port, err := splitHostPort(r.Addr)
		if err != nil {
			continue
		}
		d.Replicas = append(d.Replicas, Replica{ID: r.ID, Host: host, Port: port})
	}
	for i := range out {
		slices.SortFunc(out[i].Replicas, func(a, b Replica) int { return strings.Compare(a.ID, b.ID) })
	}
	return out
}
