package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
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

// fleet is a small real platform on this machine: redis-server, pods of
// stories260K (engine + sidecar), the gateway, xDS and Envoy.
type fleet struct {
	url     string
	key     string
	client  *http.Client
	stops   []func()
	engines []*engine.Engine
}

// adapterLoads sums the pods' adapter reads from files and slot loads.
func (f *fleet) adapterLoads() (reads, slots uint64) {
	for _, e := range f.engines {
		st := e.Stats()
		reads += st.AdapterLoads
		slots += st.AdapterSlotLoads
	}
	return reads, slots
}

func (f *fleet) stop() {
	for i := len(f.stops) - 1; i >= 0; i-- {
		f.stops[i]()
	}
}

// startFleet starts replicas pods named r0.. of deployment "stories" over
// the adapters in adapterRoot, and returns once the front routes to all.
func startFleet(ctx context.Context, dir, model, adapterRoot string, replicas, maxSeqs int) (_ *fleet, err error) {
	f := &fleet{}
	defer func() {
		if err != nil {
			f.stop()
		}
	}()
	rds, err := control.StartRedis(ctx, filepath.Join(dir, "redis"))
	if err != nil {
		return nil, err
	}
	f.stops = append(f.stops, rds.Stop)
	store, err := state.Open(rds.URL)
	if err != nil {
		return nil, err
	}
	f.stops = append(f.stops, func() { store.Close() })
	records := deploy.Records{Store: store}
	spec, err := deploy.DecodeSpec([]byte(fmt.Sprintf(`{"base_model": %q}`, model)))
	if err != nil {
		return nil, err
	}
	if _, err := records.Create(ctx, "stories", spec); err != nil {
		return nil, err
	}
	for _, st := range []deploy.Status{deploy.Initializing, deploy.Ready} {
		if _, err := records.SetStatus(ctx, "stories", nil, st, "bench fleet"); err != nil {
			return nil, err
		}
	}
	for i := range replicas {
		if err := f.startPod(ctx, dir, model, adapterRoot, rds.URL, fmt.Sprintf("r%d", i), maxSeqs); err != nil {
			return nil, err
		}
	}
	listen, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	front, err := gateway.StartFront(ctx, gateway.FrontConfig{Dir: filepath.Join(dir, "front"), Listen: listen,
		Gateway: gateway.Config{Store: store, Deployments: gateway.FromRecords(records, records), Registry: prometheus.NewRegistry()}})
	if err != nil {
		return nil, err
	}
	f.stops = append(f.stops, front.Stop)
	ca, err := os.ReadFile(front.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	f.client = &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 256}}
	f.url = front.URL
	key, rec := gateway.NewAPIKey("bench", "fleet", false)
	if err := store.PutAPIKey(ctx, rec); err != nil {
		return nil, err
	}
	f.key = key
	return f, f.waitReady(ctx, store, replicas)
}

func (f *fleet) startPod(ctx context.Context, dir, model, adapters, redisURL, id string, maxSeqs int) error {
	eng, err := server.Start(ctx, server.Options{Model: model, ServedName: "stories260K", Device: "cpu", Threads: 1,
		Engine: engine.Config{MaxNumSeqs: maxSeqs}, AdapterDirs: []string{adapters}})
	if err != nil {
		return err
	}
	f.engines = append(f.engines, eng.Engine())
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- sidecar.Run(sctx, sidecar.Config{Engine: eng.Addr(), Listen: "127.0.0.1:0", AdapterRoot: adapters,
			AdapterCache: filepath.Join(dir, "cache-"+id), Redis: redisURL, Deployment: "stories", ReplicaID: id,
			HeartbeatTTL: 5 * time.Second})
	}()
	f.stops = append(f.stops, func() { cancel(); <-done; eng.Stop(); eng.Wait() })
	return nil
}

// waitReady waits until every replica is ready and the front answers.
func (f *fleet) waitReady(ctx context.Context, store *state.Store, replicas int) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		reps, _ := store.Replicas(ctx, "stories")
		ready := 0
		for _, r := range reps {
			if r.State == state.StateReady {
				ready++
			}
		}
		if ready == replicas {
			if code, _, _, _ := f.complete(ctx, "stories", "x", 1); code == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("bench fleet: the fleet did not become routable within 60 s")
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
