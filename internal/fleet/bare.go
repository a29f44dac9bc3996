package fleet

import (
	"context"
	"net/http"
	"path/filepath"
	"time"

	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/xds"
)

// bareEnvoy is a second Envoy programmed like the front but with no gateway:
// the client names the deployment in x-graft-deployment itself. Its time to
// first byte is what Envoy alone costs, so the front's minus it is the
// gateway's share. It is a measuring device only: without the gateway
// nothing is authenticated.
type bareEnvoy struct {
	url    string
	client *http.Client
	stop   func()
}

func startBareEnvoy(ctx context.Context, store *state.Store, dir string) (_ *bareEnvoy, err error) {
	bin, err := xds.EnvoyBinary(".")
	if err != nil {
		return nil, err
	}
	certs, err := xds.EnsureCerts(filepath.Join(dir, "tls"))
	if err != nil {
		return nil, err
	}
	listen, err := freeLoopback()
	if err != nil {
		return nil, err
	}
	admin, err := freeLoopback()
	if err != nil {
		return nil, err
	}
	srv, err := xds.NewServer("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	go srv.Serve(ctx)
	go xds.Run(ctx, xds.Config{Store: store, Server: srv,
		Listener: xds.Listener{Addr: listen, CertFile: certs.CertFile, KeyFile: certs.KeyFile}})
	envoy, err := xds.StartEnvoy(bin, dir, xds.BootstrapConfig{NodeID: "graft-bare", XDSAddr: srv.Addr(), AdminAddr: admin})
	if err != nil {
		cancel()
		return nil, err
	}
	b := &bareEnvoy{url: "https://" + listen, stop: func() { envoy.Stop(); cancel() }}
	defer func() {
		if err != nil {
			b.stop()
		}
	}()
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := envoy.WaitReady(wctx); err != nil {
		return nil, err
	}
	if b.client, err = xds.TrustingClient(certs.CAFile); err != nil {
		return nil, err
	}
	return b, nil
}
