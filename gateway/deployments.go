package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Deployment is what the gateway needs to know of a deployment to admit a
// request for it.
type Deployment struct {
	Status     string // deploy's status names: Ready, Standby, Stopped, ...
	Reason     string // why it is in that status (Errored's error text)
	Serverless bool   // every tenant may use it; otherwise only Owner
	Owner      string // the tenant of a dedicated deployment; "" = any tenant
	// Private maps each adapter private to a tenant to that tenant; the
	// others are public to whoever may use the deployment.
	Private map[string]string
}

// ErrNoDeployment is what Deployments.Lookup returns for an unknown name.
var ErrNoDeployment = errors.New("no such deployment")

// Listing is one deployment as /v1/models shows it.
type Listing struct {
	Name       string
	Deployment Deployment
	Created    time.Time
	Adapters   []string // adapters a request may name on it
}

// Deployments is the gateway's view of deploy: look a deployment up, list
// them, and wake one that has scaled to zero.
type Deployments interface {
	Lookup(ctx context.Context, name string) (Deployment, error)
	List(ctx context.Context) ([]Listing, error)
	// Wake returns once the deployment has a ready replica, or with the
	// reason it cannot get one (stopped, errored).
	Wake(ctx context.Context, name string) error
}

// resolve checks that tenant may use the deployment and its adapter and
// that it can serve now: a refusal, or whether it must first be woken
// (hold). Inline (on Envoy's thread) it waits for no lookup either:
// errWouldBlock when the deployment is not in the cache.
func (g *Gateway) resolve(ctx context.Context, tenant, name, adapter string) (ae *apiError, wake bool) {
	d, err := g.deployments.Lookup(ctx, name)
	if errors.Is(err, errWouldBlock) {
		return errWouldBlock, false
	}
	if errors.Is(err, ErrNoDeployment) {
		return notFound(name), false
	}
	if err != nil {
		return unavailable("the deployment's state is unreachable; try again", time.Second), false
	}
	if !d.mayUse(tenant) || !d.mayUseAdapter(tenant, adapter) {
		// Another tenant's private adapter is not found: saying it is
		// forbidden would tell that it exists.
		return notFound(name), false
	}
	switch d.Status {
	case "Ready", "Updating":
		return nil, false
	case "Stopped":
		return unavailable(fmt.Sprintf("The deployment %s is stopped; start it to send requests.", name), 0), false
	case "Deleted":
		return notFound(name), false
	case "Errored":
		return unavailable(fmt.Sprintf("The deployment %s failed to start: %s", name, d.Reason), 0), false
	}
	return nil, true
}

// hold waits for name to wake, counting against the deployment's bound.
func (g *Gateway) hold(ctx context.Context, name string) *apiError {
	slot := g.holdSlot(name)
	select {
	case slot <- struct{}{}:
		defer func() { <-slot }()
	default:
		return unavailable(fmt.Sprintf("Too many requests are waiting for the deployment %s to start; try again.", name), g.cfg.WakeTimeout)
	}
	g.metrics.held.Inc()
	defer g.metrics.held.Dec()
	ctx, span := g.tracer.Start(ctx, "gateway.hold", trace.WithAttributes(attribute.String("graft.deployment", name)))
	defer span.End()
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, g.cfg.WakeTimeout)
	defer cancel()
	err := g.deployments.Wake(wctx, name)
	g.deployments.drop(name)
	g.metrics.holdSeconds.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		return nil
	case wctx.Err() != nil && ctx.Err() == nil:
		return unavailable(fmt.Sprintf("The deployment %s is starting; it was not ready within %v.", name, g.cfg.WakeTimeout), 5*time.Second)
	default:
		return unavailable(fmt.Sprintf("The deployment %s cannot start: %v", name, err), 0)
	}
}

func (g *Gateway) holdSlot(name string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.holdSlots[name]
	if s == nil {
		s = make(chan struct{}, g.cfg.HoldLimit)
		g.holdSlots[name] = s
	}
	return s
}

func (d Deployment) mayUse(tenant string) bool {
	return d.Serverless || d.Owner == "" || d.Owner == tenant
}

func (d Deployment) mayUseAdapter(tenant, adapter string) bool {
	owner, private := d.Private[adapter]
	return !private || owner == tenant
}
