package console

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/state"
)

// deploymentRow is a deployment as the list shows it.
type deploymentRow struct {
	Name, Status, Reason, Type, Owner, Model string
	Desired, Ready                           int
	Since                                    time.Time
	Generation                               int64
}

func (c *Console) row(r deploy.Record) deploymentRow {
	ready := c.cfg.Deployments.Live(r.Name)
	if r.Status != deploy.Ready && r.Status != deploy.Updating {
		ready = 0 // a draining replica serves no new requests (as the API says)
	}
	return deploymentRow{Name: r.Name, Status: string(r.Status), Reason: r.StatusReason, Type: string(r.Spec.Type),
		Owner: r.Owner, Model: r.Spec.BaseModel, Desired: r.Desired, Ready: ready, Since: r.StatusTime.UTC(),
		Generation: r.Generation}
}

func (c *Console) deploymentList(w http.ResponseWriter, r *http.Request) {
	recs, err := c.cfg.Deployments.List(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "state_unavailable", "reading the deployments: "+err.Error())
		return
	}
	rows := []deploymentRow{}
	for _, rec := range recs {
		if rec.Status != deploy.Deleted {
			rows = append(rows, c.row(rec))
		}
	}
	slices.SortFunc(rows, func(a, b deploymentRow) int { return strings.Compare(a.Name, b.Name) })
	fragment(w, "deployment-list", rows)
}

// detail is one deployment: its replicas, which adapters each holds, and
// its recent events, newest first.
type detail struct {
	deploymentRow
	Spec      deploy.Spec
	Replicas  []state.Replica
	Adapters  []adapterRow
	Events    []deploy.Event
	ModelsErr string
}

type adapterRow struct {
	ID        string
	Preloaded bool
	Held      []bool // per replica, in Replicas' order
}

// recentEvents is how many events the page shows.
const recentEvents = 12

func (c *Console) deploymentDetail(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	rec, err := c.cfg.Deployments.Get(r.Context(), name)
	if err != nil {
		status, code := http.StatusServiceUnavailable, "state_unavailable"
		if errors.Is(err, deploy.ErrNotFound) || deploy.CheckName(name) != nil {
			status, code = http.StatusNotFound, "deployment_not_found"
		}
		writeError(w, status, code, err.Error())
		return
	}
	d := detail{deploymentRow: c.row(rec), Spec: rec.Spec}
	if d.Replicas, err = c.cfg.Store.Replicas(r.Context(), name); err != nil {
		writeError(w, http.StatusServiceUnavailable, "state_unavailable", "reading the replicas: "+err.Error())
		return
	}
	slices.SortFunc(d.Replicas, func(a, b state.Replica) int { return strings.Compare(a.ID, b.ID) })
	servable, err := c.servableAdapters(r, d.Replicas)
	if err != nil {
		d.ModelsErr = err.Error()
	}
	d.Adapters = adapterRows(d.Replicas, rec.Spec.PreloadedAdapters, servable)
	evs, err := c.cfg.Deployments.Events(r.Context(), name, "", 1000)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "state_unavailable", "reading the events: "+err.Error())
		return
	}
	if len(evs) > recentEvents {
		evs = evs[len(evs)-recentEvents:]
	}
	slices.Reverse(evs)
	d.Events = evs
	fragment(w, "deployment-detail", d)
}

// adapterRows lists every adapter the deployment knows of, with the
// replicas holding each.
func adapterRows(replicas []state.Replica, preloaded, servable []string) []adapterRow {
	ids := slices.Concat(preloaded, servable)
	for _, rp := range replicas {
		ids = append(ids, rp.Adapters...)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	rows := make([]adapterRow, 0, len(ids))
	for _, id := range ids {
		row := adapterRow{ID: id, Preloaded: slices.Contains(preloaded, id), Held: make([]bool, len(replicas))}
		for i, rp := range replicas {
			row.Held[i] = slices.Contains(rp.Adapters, id)
		}
		rows = append(rows, row)
	}
	return rows
}
