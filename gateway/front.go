package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

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
}

// Front is a running front door.
type Front struct {
	URL    string // https://host:port
	CAFile string // the CA that signed the server certificate ("" for the user's own)
	Envoy  *xds.Envoy
	cancel context.CancelFunc
	done   chan struct{}
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
	gwAddr := make(chan string, 1)
	gc := c.Gateway
	if gc.Listen == "" {
		// Envoy reaches the gateway over a Unix socket: measured (A/B) about
		// 70 us less per ext_proc round trip than loopback TCP. The socket
		// lives in a short temporary path: c.Dir may exceed the 108 bytes
		// a socket's path may have.
		sockDir, err := os.MkdirTemp("", "graft-gateway-")
		if err != nil {
			f.cancel()
			return nil, err
		}
		context.AfterFunc(ctx, func() { os.RemoveAll(sockDir) })
		gc.Listen = "unix:" + filepath.Join(sockDir, "ext_proc.sock")
	}
	gc.OnListen = func(a string) { gwAddr <- a }
	gc.defaults() // Envoy's timeout for the gateway follows the wake limit
	gw, err := New(gc)
	if err != nil {
		f.cancel()
		return nil, err
	}
	srv, err := xds.NewServer("127.0.0.1:0")
	if err != nil {
		f.cancel()
		return nil, err
	}
	if err := srv.Register(gc.Registry); err != nil {
		f.cancel()
		return nil, err
	}
	gwErr := make(chan error, 1)
	go func() { gwErr <- gw.Run(ctx) }()
	go srv.Serve(ctx)
	var gaddr string
	select {
	case gaddr = <-gwAddr:
	case err := <-gwErr:
		f.cancel()
		return nil, err
	}
	go xds.Run(ctx, xds.Config{Store: c.Gateway.Store, Server: srv, Gateway: gaddr, ControlAPI: c.ControlAPI,
		OTLP: c.OTLP, TraceRatio: c.TraceRatio,
		Listener: xds.Listener{Addr: c.Listen, CertFile: c.CertFile, KeyFile: c.KeyFile,
			GatewayTimeout: gc.WakeTimeout + 10*time.Second, AccessLog: c.AccessLog}})
	admin, err := freeLoopback()
	if err != nil {
		f.cancel()
		return nil, err
	}
	f.Envoy, err = xds.StartEnvoy(bin, c.Dir, xds.BootstrapConfig{NodeID: "graft-front", XDSAddr: srv.Addr(), AdminAddr: admin})
	if err != nil {
		f.cancel()
		return nil, err
	}
	go func() { <-ctx.Done(); f.Envoy.Stop(); close(f.done) }()
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := f.Envoy.WaitReady(wctx); err != nil {
		f.Stop()
		return nil, err
	}
	return f, nil
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
	last := "no answer yet"
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
		select {
		case <-ctx.Done():
			return fmt.Errorf("deployment %s did not answer through the front door: %s", deployment, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
