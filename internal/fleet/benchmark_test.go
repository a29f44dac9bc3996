package fleet

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/internal/testserver"
	"github.com/graft-ai/graft/xds"
)

// TestRunMeasuresBothPaths runs the benchmark briefly: every request on every
// path (direct, the front, Envoy alone) succeeds, the table has a row per
// rate, and Envoy's access log accounts for every front request. (No timing
// is asserted.)
func TestRunMeasuresBothPaths(t *testing.T) {
	model := testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")
	if _, err := xds.EnvoyBinary("."); err != nil {
		t.Skipf("no Envoy here (%v); make test installs it", err)
	}
	var out strings.Builder
	rows, err := Run(context.Background(), Config{Model: model, Rates: []float64{20, 40}, Duration: time.Second,
		Listen: fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t)), Out: &out, Breakdown: true, EnvoyAlone: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if len(rows) != 2 || !strings.Contains(out.String(), "added p50") {
		t.Fatalf("rows: %+v", rows)
	}
	for _, r := range rows {
		if r.Errors != 0 || r.N < 10 || r.Direct.P50 <= 0 || r.Front.P50 <= 0 || r.EnvoyAlone == nil || r.EnvoyAlone.P50 <= 0 {
			t.Errorf("rate %v: %+v", r.Rate, r)
		}
		// Envoy logged every front request of the rate, and its parts
		// fit in the whole it timed.
		s := r.Steps
		if s == nil || s.N != r.N {
			t.Fatalf("rate %v: %d requests, access log steps %+v", r.Rate, r.N, s)
		}
		if s.Upstream.P50 <= 0 || s.Route.P50 <= 0 || s.FirstByte.P50 < s.Upstream.P50 || s.FirstByte.P99 < s.Route.P50+s.Upstream.P50 {
			t.Errorf("rate %v: steps %+v", r.Rate, s)
		}
	}
}
