// Package api is the management REST API over deployments (create, list,
// get, update, stop, start, delete, events, wake) and a client for it. Errors
// have the OpenAI API's shape, {"error": {"message", "type", "param", "code"}}.
package api

import (
	"time"

	"github.com/graft-ai/graft/deploy"
)

// Deployment is a deployment as the API shows it.
type Deployment struct {
	Object       string      `json:"object"` // "deployment"
	Name         string      `json:"name"`
	Status       string      `json:"status"`
	StatusReason string      `json:"status_reason"`
	StatusTime   time.Time   `json:"status_time"`
	Type         string      `json:"type"`
	Owner        string      `json:"owner,omitempty"`
	Generation   int64       `json:"generation"`
	Replicas     Replicas    `json:"replicas"`
	Spec         deploy.Spec `json:"spec"`
	CreatedAt    time.Time   `json:"created_at"`
	UpdatedAt    time.Time   `json:"updated_at"`
}

// TenantHeader carries the caller's tenant from the gateway.
const TenantHeader = "X-Graft-Tenant"

// Replicas counts what the controller wants and what serves.
type Replicas struct {
	Desired int `json:"desired"`
	Ready   int `json:"ready"`
}

// Event is one entry of a deployment's event stream.
type Event struct {
	ID         string    `json:"id"`
	Time       time.Time `json:"time"`
	Status     string    `json:"status"`
	Previous   string    `json:"previous"`
	Reason     string    `json:"reason"`
	Generation int64     `json:"generation"`
}

// List is OpenAI's list envelope.
type List[T any] struct {
	Object string `json:"object"` // "list"
	Data   []T    `json:"data"`
}

func toDeployment(r deploy.Record, ready int) Deployment {
	if r.Status != deploy.Ready && r.Status != deploy.Updating {
		ready = 0 // a replica still draining serves no new requests
	}
	return Deployment{Object: "deployment", Name: r.Name, Status: string(r.Status), StatusReason: r.StatusReason,
		StatusTime: r.StatusTime.UTC(), Type: string(r.Spec.Type), Owner: r.Owner, Generation: r.Generation,
		Replicas: Replicas{Desired: r.Desired, Ready: ready}, Spec: r.Spec,
		CreatedAt: r.Created.UTC(), UpdatedAt: r.Updated.UTC()}
}

func toEvent(e deploy.Event) Event {
	return Event{ID: e.ID, Time: e.Time.UTC(), Status: string(e.Status), Previous: string(e.Previous),
		Reason: e.Reason, Generation: e.Generation}
}
