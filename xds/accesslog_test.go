package xds

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestAccessLogTimesEachRequest: with an access log, a real Envoy writes one
// JSON line per request naming its deployment and replica, with parts that
// fit in the time to first byte Envoy measured; a request Envoy answers
// itself has no upstream parts.
func TestAccessLogTimesEachRequest(t *testing.T) {
	a0 := backend(t, "a-0")
	path := filepath.Join(t.TempDir(), "access.log")
	f := startFront(t, Input{Listener: Listener{AccessLog: path}, Deployments: []Deployment{{Name: "a", Replicas: []Replica{a0}}}})
	for range 3 {
		if code, body := f.get(t, "a", "k"); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	if code, _ := f.get(t, "nope", "k"); code != 404 {
		t.Fatalf("unknown deployment: %d", code)
	}
	var entries []AccessLogEntry
	deadline := time.Now().Add(10 * time.Second) // Envoy flushes each second
	for len(entries) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("%d lines logged; Envoy log: %s", len(entries), f.envoy.Log())
		}
		time.Sleep(100 * time.Millisecond)
		b, _ := os.ReadFile(path)
		entries = entries[:0]
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			e, err := ParseAccessLogEntry(sc.Bytes())
			if err != nil {
				t.Fatalf("%v: %s", err, sc.Text())
			}
			entries = append(entries, e)
		}
	}
	upstream := fmt.Sprintf("%s:%d", a0.Host, a0.Port)
	for _, e := range entries[:3] {
		if _, err := e.StartTime(); err != nil || e.Status != 200 || e.Deployment != "a" || e.Upstream != upstream || e.Path != "/v1/models" {
			t.Fatalf("entry %+v (start: %v)", e, err)
		}
		if e.RequestUS < 0 || e.RouteUS < 0 || e.UpstreamUS <= 0 || e.ResponseUS < 0 ||
			e.FirstByteUS < e.RequestUS+e.RouteUS+e.UpstreamUS+e.ResponseUS-2 { // each part rounds down
			t.Fatalf("parts do not fit the whole: %+v", e)
		}
	}
	if e := entries[3]; e.Status != 404 || e.Upstream != "" || e.UpstreamUS != -1 || e.FirstByteUS < 0 {
		t.Fatalf("a request Envoy answered itself: %+v", e)
	}
}

func TestParseAccessLogEntryRefusesGarbage(t *testing.T) {
	for _, line := range []string{"", "{", `{"status":"abc"}`, `[1]`} {
		if _, err := ParseAccessLogEntry([]byte(line)); err == nil {
			t.Errorf("%q parsed", line)
		}
	}
}

// TestParseAccessLogEntryGateway: the ext_proc filter's latency comes as a
// string, and as null where no gateway took part.
func TestParseAccessLogEntryGateway(t *testing.T) {
	for line, want := range map[string]int64{
		`{"status":200,"gateway_us":"523","route_us":null}`: 523,
		`{"status":200,"gateway_us":null}`:                  -1,
		`{"status":200}`:                                    -1,
	} {
		e, err := ParseAccessLogEntry([]byte(line))
		if err != nil || e.GatewayUS != want || e.RouteUS != -1 {
			t.Fatalf("%s: %+v %v", line, e, err)
		}
	}
}
