package benchmark

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/control"
	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/engine/server"
	"github.com/graft-ai/graft/gateway"
	"github.com/graft-ai/graft/sidecar"
)

// env is everything the benchmark started, stopped in reverse.
type env struct {
	deployment, podURL, key string
	front                   *gateway.Front
	frontClient             *http.Client
	stops                   []func()
}

func (e *env) stop() {
	for i := len(e.stops) - 1; i >= 0; i-- {
		e.stops[i]()
	}
}

func start(ctx context.Context, c Config) (_ *env, err error) {
	e := &env{deployment: "bench"}
	defer func() {
		if err != nil {
			e.stop()
		}
	}()
	dir, err := os.MkdirTemp("", "graft-bench-gateway-")
	if err != nil {
		return nil, err
	}
	e.stops = append(e.stops, func() { os.RemoveAll(dir) })
	rds, err := control.StartRedis(ctx, filepath.Join(dir, "redis"))
	if err != nil {
		return nil, err
	}
	e.stops = append(e.stops, rds.Stop)
	store, err := state.Open(rds.URL)
	if err != nil {
		return nil, err
	}
	e.stops = append(e.stops, func() { store.Close() })
	if err := e.startPod(ctx, c, rds.URL, dir); err != nil {
		return nil, err
	}
	records := deploy.Records{Store: store}
	spec, err := deploy.DecodeSpec([]byte(fmt.Sprintf(`{"base_model": %q}`, c.Model)))
	if err != nil {
		return nil, err
	}
	if _, err := records.Create(ctx, e.deployment, spec); err != nil {
		return nil, err
	}
	for _, s := range []deploy.Status{deploy.Initializing, deploy.Ready} {
		if _, err := records.SetStatus(ctx, e.deployment, nil, s, "benchmark"); err != nil {
			return nil, err
		}
	}
	key, rec := gateway.NewAPIKey("bench", "benchmark", false)
	if err := store.PutAPIKey(ctx, rec); err != nil {
		return nil, err
	}
	e.key = key
	e.front, err = gateway.StartFront(ctx, gateway.FrontConfig{Listen: c.Listen, Dir: filepath.Join(dir, "front"),
		Gateway: gateway.Config{Store: store, Deployments: gateway.FromRecords(records, records), Registry: prometheus.NewRegistry()}})
	if err != nil {
		return nil, err
	}
	e.stops = append(e.stops, e.front.Stop)
	if e.frontClient, err = trustCA(e.front.CAFile); err != nil {
		return nil, err
	}
	return e, e.waitRoutable(ctx)
}

func (e *env) startPod(ctx context.Context, c Config, redisURL, dir string) error {
	opts := server.Options{Model: c.Model, Device: "cpu"}
	if c.AdapterRoot != "" {
		opts.AdapterDirs = []string{c.AdapterRoot}
	}
	eng, err := server.Start(ctx, opts)
	if err != nil {
		return err
	}
	e.stops = append(e.stops, func() { eng.Stop(); eng.Wait() })
	pctx, cancel := context.WithCancel(ctx)
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- sidecar.Run(pctx, sidecar.Config{Engine: eng.Addr(), Listen: "127.0.0.1:0", AdapterRoot: c.AdapterRoot,
			AdapterCache: filepath.Join(dir, "adapters"), Redis: redisURL, Deployment: e.deployment, ReplicaID: "bench-0",
			OnListen: func(a string) { addr <- a }})
	}()
	e.stops = append(e.stops, func() { cancel(); <-done })
	select {
	case a := <-addr:
		e.podURL = "http://" + a
		return nil
	case err := <-done:
		return err
	}
}

// waitRoutable waits until a request through the front succeeds.
func (e *env) waitRoutable(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	body := fmt.Sprintf(`{"model":%q,"prompt":"x","max_tokens":1}`, e.deployment)
	t := &target{url: e.front.URL + "/v1/completions", key: e.key, client: e.frontClient}
	for {
		_, err := t.send(ctx, body)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the front never routed to the pod: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
