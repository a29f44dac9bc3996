package fleet

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/control"
	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/server"
	"github.com/graft-ai/graft/gateway"
	"github.com/graft-ai/graft/sidecar"
)

// FleetConfig describes a small real platform on this machine: a
// redis-server, pods of one model (engine + sidecar, in this process or
// each in its own), and the front door (gateway, xDS, Envoy) over them.
type FleetConfig struct {
	Dir         string // working files; removed by Stop only if the caller made it so
	Model       string
	AdapterRoot string // "" serves the base model only
	Deployment  string
	Replicas    int
	MaxSeqs     int // per engine; 0: the engine's default
	Threads     int // per engine; 0: all cores
	Listen      string
	AccessLog   string // Envoy's access log file; "" for none
	// PodExe, when set, is a graft executable that runs each pod as
	// "graft serve" in a process of its own, through the local provider
	// (with the deployment spec's defaults: MaxSeqs does not apply);
	// Fleet.Engines is then empty.
	PodExe string
	// GatewayModule: see Config.
	GatewayModule string
}

// Fleet is a running FleetConfig.
type Fleet struct {
	URL     string // the front's https://host:port
	Key     string // an API key the gateway accepts
	Client  *http.Client
	PodURLs []string // each pod's sidecar, straight
	Engines []*engine.Engine
	store   *state.Store
	stops   []func()
}

// Stop stops everything in the reverse order of its start.
func (f *Fleet) Stop() {
	for i := len(f.stops) - 1; i >= 0; i-- {
		f.stops[i]()
	}
}

// AdapterLoads sums the engines' adapter reads from files and slot loads.
func (f *Fleet) AdapterLoads() (reads, slots uint64) {
	for _, e := range f.Engines {
		st := e.Stats()
		reads += st.AdapterLoads
		slots += st.AdapterSlotLoads
	}
	return reads, slots
}

// StartFleet starts c and returns once the front routes to every replica.
func StartFleet(ctx context.Context, c FleetConfig) (_ *Fleet, err error) {
	f := &Fleet{}
	defer func() {
		if err != nil {
			f.Stop()
		}
	}()
	rds, err := control.StartRedis(ctx, filepath.Join(c.Dir, "redis"))
	if err != nil {
		return nil, err
	}
	f.stops = append(f.stops, rds.Stop)
	store, err := state.Open(rds.URL)
	if err != nil {
		return nil, err
	}
	f.stops = append(f.stops, func() { store.Close() })
	f.store = store
	records := deploy.Records{Store: store}
	spec, err := readyDeployment(ctx, records, c.Deployment, c.Model)
	if err != nil {
		return nil, err
	}
	if err := f.startPods(ctx, c, rds.URL, store, spec); err != nil {
		return nil, err
	}
	if c.Listen == "" {
		if c.Listen, err = freeLoopback(); err != nil {
			return nil, err
		}
	}
	front, err := gateway.StartFront(ctx, gateway.FrontConfig{Dir: filepath.Join(c.Dir, "front"), Listen: c.Listen, AccessLog: c.AccessLog,
		GatewayModule: c.GatewayModule, RedisURL: rds.URL,
		Gateway: gateway.Config{Store: store, Deployments: gateway.FromRecords(records, records), Registry: prometheus.NewRegistry()}})
	if err != nil {
		return nil, err
	}
	f.stops = append(f.stops, front.Stop)
	if f.Client, err = front.Client(); err != nil {
		return nil, err
	}
	f.URL = front.URL
	key, rec := gateway.NewAPIKey("bench", "benchmark", false)
	if err := store.PutAPIKey(ctx, rec); err != nil {
		return nil, err
	}
	f.Key = key
	return f, f.waitRoutable(ctx, front, store, c)
}

// readyDeployment records the deployment as Ready and returns its spec:
// the pods are started here, not by a controller.
func readyDeployment(ctx context.Context, records deploy.Records, name, model string) (deploy.Spec, error) {
	spec, err := deploy.DecodeSpec([]byte(fmt.Sprintf(`{"base_model": %q}`, model)))
	if err != nil {
		return spec, err
	}
	if _, err := records.Create(ctx, name, spec); err != nil {
		return spec, err
	}
	for _, st := range []deploy.Status{deploy.Initializing, deploy.Ready} {
		if _, err := records.SetStatus(ctx, name, nil, st, "benchmark"); err != nil {
			return spec, err
		}
	}
	return spec, nil
}

// startPods starts c.Replicas pods: through the local provider when
// c.PodExe is set, else in this process.
func (f *Fleet) startPods(ctx context.Context, c FleetConfig, redisURL string, store *state.Store, spec deploy.Spec) error {
	if c.PodExe != "" {
		spec.Threads = c.Threads
		if c.AdapterRoot != "" {
			spec.AdapterSources = []string{c.AdapterRoot}
		}
		return f.startPodProcesses(ctx, c, redisURL, store, spec)
	}
	for i := range c.Replicas {
		if err := f.startPod(ctx, c, redisURL, fmt.Sprintf("r%d", i)); err != nil {
			return err
		}
	}
	return nil
}

func (f *Fleet) startPod(ctx context.Context, c FleetConfig, redisURL, id string) error {
	opts := server.Options{Model: c.Model, Device: "cpu", Threads: c.Threads, Engine: engine.Config{MaxNumSeqs: c.MaxSeqs}}
	if c.AdapterRoot != "" {
		opts.AdapterDirs = []string{c.AdapterRoot}
	}
	eng, err := server.Start(ctx, opts)
	if err != nil {
		return err
	}
	f.Engines = append(f.Engines, eng.Engine())
	f.stops = append(f.stops, func() { eng.Stop(); eng.Wait() })
	sctx, cancel := context.WithCancel(ctx)
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- sidecar.Run(sctx, sidecar.Config{Engine: eng.Addr(), Listen: "127.0.0.1:0", AdapterRoot: c.AdapterRoot,
			AdapterCache: filepath.Join(c.Dir, "cache-"+id), Redis: redisURL, Deployment: c.Deployment, ReplicaID: id,
			HeartbeatTTL: 5 * time.Second, OnListen: func(a string) { addr <- a }})
	}()
	f.stops = append(f.stops, func() { cancel(); <-done })
	select {
	case a := <-addr:
		f.PodURLs = append(f.PodURLs, "http://"+a)
		return nil
	case err := <-done:
		return err
	}
}

// waitRoutable waits until every replica is ready and the front answers.
func (f *Fleet) waitRoutable(ctx context.Context, front *gateway.Front, store *state.Store, c FleetConfig) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for ready := 0; ready < c.Replicas; {
		reps, _ := store.Replicas(ctx, c.Deployment)
		ready = 0
		for _, r := range reps {
			if r.State == state.StateReady {
				ready++
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fleet: %d of %d replicas ready within a minute", ready, c.Replicas)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return front.WaitServing(ctx, f.Key, c.Deployment)
}

func freeLoopback() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
