package testserver

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// JaegerVersion is the Jaeger all-in-one the tests and graft up run; `make
// jaeger` builds it from the Go module proxy into JaegerBinary's path.
const JaegerVersion = "v1.76.0"

// JaegerBinary is $GRAFT_JAEGER, or the build in the user cache
// (graft/jaeger-<version>/jaeger).
func JaegerBinary() (string, error) {
	if p := os.Getenv("GRAFT_JAEGER"); p != "" {
		return p, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "graft", "jaeger-"+JaegerVersion, "jaeger")
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

// Jaeger is a running all-in-one Jaeger keeping traces in memory.
type Jaeger struct {
	*Process
	OTLP     string // host:port of its OTLP/gRPC receiver
	QueryURL string // http://host:port of its query API (/api/traces)
}

// jaegerConfig binds every port to 127.0.0.1: the query extension ignores
// JAEGER_LISTEN_HOST, so the defaults would listen on all interfaces.
const jaegerConfig = `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:%d
    grpc:
      endpoint: 127.0.0.1:%d
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:%d
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`

// StartJaeger runs Jaeger for the test, or skips it when Jaeger is not built.
func StartJaeger(t testing.TB) *Jaeger {
	t.Helper()
	bin, err := JaegerBinary()
	if err != nil {
		t.Skipf("no Jaeger %s here (%v); `make jaeger` builds it", JaegerVersion, err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		dir := t.TempDir()
		qport, gport, oport := FreePort(t), FreePort(t), FreePort(t)
		cfg := filepath.Join(dir, "jaeger.yaml")
		if err := os.WriteFile(cfg, fmt.Appendf(nil, jaegerConfig, qport, gport, oport), 0o600); err != nil {
			t.Fatal(err)
		}
		j := &Jaeger{Process: start(t, dir, bin, "--config", "file:"+cfg),
			OTLP: fmt.Sprintf("127.0.0.1:%d", oport), QueryURL: fmt.Sprintf("http://127.0.0.1:%d", qport)}
		lastErr = waitFor(j.Process, 30*time.Second, func() error { return j.ready() })
		if lastErr == nil {
			return j
		}
		j.Stop()
	}
	t.Fatalf("jaeger: %v", lastErr)
	return nil
}

func (j *Jaeger) ready() error {
	resp, err := http.Get(j.QueryURL + "/api/services")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return errors.New(resp.Status)
	}
	return nil
}
