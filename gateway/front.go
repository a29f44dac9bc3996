package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/graft-ai/graft/internal/tmpdir"
	"github.com/graft-ai/graft/xds"
)

// FrontConfig starts the whole front door on this machine: the gateway, the
// xDS control plane and a real Envoy programmed by it.
type FrontConfig struct {
	Gateway Config
	// Listen is the public HTTPS address.
	Listen string
	// Dir holds Envoy's bootstrap and, unless CertFile is set, the
	// self-signed CA and server certificate made on first start.
	Dir               string
	CertFile, KeyFile string
	// Envoy is the envoy binary; empty finds one (see xds.EnvoyBinary).
	Envoy string
	// ControlAPI is the management API's host:port, served on the front
	// under /v1/deployments to admin keys; "" leaves it off.
	ControlAPI string
	// OTLP is host:port of the OTLP/gRPC collector Envoy sends its spans to;
	// "" leaves Envoy untraced. TraceRatio is Envoy's share of new traces (0: all).
	OTLP       string
	TraceRatio float64
	// AccessLog, when set, is a file Envoy appends a JSON line per request
	// to (xds.AccessLogEntry).
	AccessLog string
	// GatewayModule, when set, is the gateway built as an Envoy dynamic
	// module (cmd/graft-envoy-gateway, make gateway-module): Envoy decides each
	// request in its own process instead of calling the gateway over
	// ext_proc. The module opens its own connection to RedisURL, and
	// traces to OTLP; Gateway's Registry and Tracer are not its.
	GatewayModule string
	RedisURL      string
}

// Front is a running front door.
type Front struct {
	URL    string // https://host:port
	CAFile string // the CA that signed the server certificate ("" for the user's own)
	// GatewayMetrics is where the gateway module serves /metrics
	// (http://host:port/metrics); "" when the gateway runs in this process.
	GatewayMetrics string
	Envoy          *xds.Envoy
	cancel         context.CancelFunc
	done           chan struct{}
}

// StartFront starts the front and returns once Envoy is live.
func StartFront(ctx context.Context, c FrontConfig) (*Front, error) {
	if c.Gateway.Store == nil {
		return nil, errors.New("front: a state store is required")
	}
	bin := c.Envoy
	if bin == "" {
		wd, _ := os.Getwd()
		var err error
		if bin, err = xds.EnvoyBinary(wd); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, err
	}
	f := &Front{URL: "https://" + c.Listen, done: make(chan struct{})}
	if c.CertFile == "" {
		certs, err := xds.EnsureCerts(filepath.Join(c.Dir, "tls"))
		if err != nil {
			return nil, err
		}
		c.CertFile, c.KeyFile, f.CAFile = certs.CertFile, certs.KeyFile, certs.CAFile
	}
	ctx, f.cancel = context.WithCancel(ctx)
	gc := c.Gateway
	gc.defaults()
	xc := xds.Config{Store: gc.Store, ControlAPI: c.ControlAPI, OTLP: c.OTLP, TraceRatio: c.TraceRatio,
		Listener: xds.Listener{Addr: c.Listen, CertFile: c.CertFile, KeyFile: c.KeyFile, AccessLog: c.AccessLog}}
	var err error
	if c.GatewayModule != "" {
		err = f.loadGateway(c, gc, &xc)
	} else {
		err = runGateway(ctx, gc, &xc)
	}
	if err == nil {
		xc.Server, err = serveXDS(ctx, gc.Registry)
	}
	if err != nil {
		f.cancel()
		return nil, err
	}
	go xds.Run(ctx, xc)
	if err := f.startEnvoy(ctx, bin, c.Dir, xc.Server.Addr()); err != nil {
		return nil, err
	}
	return f, nil
}

// runGateway serves the gateway as ext_proc in this process, for xc's Envoy.
func runGateway(ctx context.Context, gc Config, xc *xds.Config) error {
	if gc.Listen == "" {
		// Envoy reaches the gateway over a Unix socket: measured (A/B) about
		// 70 us less per ext_proc round trip than loopback TCP. The socket
		// lives in a short temporary path: the front's directory may exceed
		// the 108 bytes a socket's path may have.
		sockDir, err := tmpdir.Make("", "graft-gateway-")
		if err != nil {
			return err
		}
		context.AfterFunc(ctx, func() { sockDir.Remove() })
		gc.Listen = "unix:" + filepath.Join(sockDir.Path, "ext_proc.sock")
	}
	gwAddr := make(chan string, 1)
	gc.OnListen = func(a string) { gwAddr <- a }
	gw, err := New(gc)
	if err != nil {
		return err
	}
	gwErr := make(chan error, 1)
	go func() { gwErr <- gw.Run(ctx) }()
	select {
	case xc.Gateway = <-gwAddr:
	case err := <-gwErr:
		return err
	}
	// Envoy's timeout for the gateway follows the wake limit.
	xc.Listener.GatewayTimeout = gc.WakeTimeout + 10*time.Second
	return nil
}

// loadGateway has xc's Envoy load the gateway module; no gateway runs in
// this process.
func (f *Front) loadGateway(c FrontConfig, gc Config, xc *xds.Config) error {
	if c.RedisURL == "" {
		return errors.New("front: the gateway module needs the state's Redis URL")
	}
	file, err := filepath.Abs(c.GatewayModule)
	if err != nil {
		return err
	}
	mc := ModuleConfigOf(gc, c.RedisURL)
	mc.OTLP, mc.TraceRatio = c.OTLP, c.TraceRatio
	// The module's metrics are Envoy's process's: it serves them itself.
	if mc.MetricsListen, err = freeLoopback(); err != nil {
		return err
	}
	if xc.GatewayModule, err = mc.Filter(file); err != nil {
		return err
	}
	f.GatewayMetrics = "http://" + mc.MetricsListen + "/metrics"
	return nil
}

// serveXDS serves the control plane, its metrics in reg.
func serveXDS(ctx context.Context, reg prometheus.Registerer) (*xds.Server, error) {
	srv, err := xds.NewServer("127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	if err := srv.Register(reg); err != nil {
		return nil, err
	}
	go srv.Serve(ctx)
	return srv, nil
}

// startEnvoy starts Envoy on the control plane at xdsAddr and waits until
// it is live; on failure the front is stopped.
func (f *Front) startEnvoy(ctx context.Context, bin, dir, xdsAddr string) error {
	admin, err := freeLoopback()
	if err != nil {
		f.cancel()
		return err
	}
	f.Envoy, err = xds.StartEnvoy(bin, dir, xds.BootstrapConfig{NodeID: "graft-front", XDSAddr: xdsAddr, AdminAddr: admin})
	if err != nil {
		f.cancel()
		return err
	}
	go func() { <-ctx.Done(); f.Envoy.Stop(); close(f.done) }()
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := f.Envoy.WaitReady(wctx); err != nil {
		f.Stop()
		return err
	}
	return nil
}

// Stop stops Envoy, then the gateway and the control plane.
func (f *Front) Stop() {
	f.cancel()
	<-f.done
}

func freeLoopback() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("front: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Client returns an HTTP client that trusts the front's certificate.
func (f *Front) Client() (*http.Client, error) {
	if f.CAFile == "" {
		return http.DefaultClient, nil
	}
	return xds.TrustingClient(f.CAFile)
}

// WaitServing returns once a one-token completion for deployment, sent with
// key, is answered through the front; or, when ctx ends, with the last answer.
func (f *Front) WaitServing(ctx context.Context, key, deployment string) error {
	client, err := f.Client()
	if err != nil {
		return err
	}
	body := fmt.Sprintf(`{"model":%q,"prompt":"x","max_tokens":1}`, deployment)
	last, logged := "no answer yet", time.Now()
	for {
		req, _ := http.NewRequestWithContext(ctx, "POST", f.URL+"/v1/completions", strings.NewReader(body))
		req.Header.Set("authorization", "Bearer "+key)
		req.Header.Set("content-type", "application/json")
		if resp, err := client.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		// A wait that drags on says why, so a stuck start shows its cause
		// before whoever waits on it gives up.
		if time.Since(logged) >= 15*time.Second {
			slog.Info("still waiting for the deployment to answer through the front door", "deployment", deployment, "last", last)
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("deployment %s did not answer through the front door: %s", deployment, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
