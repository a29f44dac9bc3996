package gpu

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// This machine has no GPU (or the build has no cgo): Open must say so once
// and give a Monitor that reports nothing rather than fail.
func TestOpenWithoutGPU(t *testing.T) {
	var logs bytes.Buffer
	m := Open(slog.New(slog.NewTextHandler(&logs, nil)))
	if m.src != nil {
		t.Skip("this machine has a GPU that NVML can read; the no-GPU path is not reachable here")
	}
	if !strings.Contains(logs.String(), "no GPU") || strings.Count(logs.String(), "\n") != 1 {
		t.Fatalf("want one \"no GPU\" line, got:\n%s", logs.String())
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Fatalf("%d series without a GPU (%v)", n, err)
	}
	if u, tot := m.Memory(); u != 0 || tot != 0 {
		t.Fatalf("Memory() = %d/%d without a GPU", u, tot)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Fatalf("scrapes logged again:\n%s", logs.String())
	}
}
