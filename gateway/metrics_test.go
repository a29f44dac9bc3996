package gateway_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/graft-ai/graft/gateway"
)

// TestFrontCountsByDeployment: through Envoy, a key limited to one request a
// minute gets one routed and one 429; the gateway counts both per deployment,
// adapter and tenant, the 429 as a rate-limit rejection, and a name that is
// no deployment under no deployment label.
func TestFrontCountsByDeployment(t *testing.T) {
	for _, mode := range frontModes {
		t.Run(mode.name, func(t *testing.T) { countsByDeployment(t, mode.module) })
	}
}

func countsByDeployment(t *testing.T, module bool) {
	reg := prometheus.NewRegistry()
	p := startPlatform(t, platformOpts{replicas: 1, module: module, gateway: func(c *gateway.Config) { c.Registry = reg }})
	key, rec := gateway.NewAPIKey("limited", "test", false)
	rec.RPM = 1
	if err := p.store.PutAPIKey(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{200, 429} {
		if code, out := p.post(t, "/v1/completions", key, `{"model":"stories/qv-r4","prompt":"x","max_tokens":1}`); code != want {
			t.Fatalf("request %d: %d %s, want %d", i, code, out, want)
		}
	}
	if code, _ := p.post(t, "/v1/completions", p.key, `{"model":"nowhere","prompt":"x","max_tokens":1}`); code != 404 {
		t.Fatalf("unknown deployment answered %d", code)
	}
	// Refused at its headers, a request's body (which Envoy streams without
	// waiting) is never decided on: no series, no admission, no wake.
	if code, _ := p.post(t, "/v1/completions", "graft-not-a-key", `{"model":"stories/qv-r4","prompt":"x","max_tokens":1}`); code != 401 {
		t.Fatalf("a bad key was answered %d", code)
	}
	want := `
# HELP graft_gateway_deployment_requests_total Requests naming a deployment, by adapter, tenant and outcome (routed or the HTTP status the gateway answered).
# TYPE graft_gateway_deployment_requests_total counter
graft_gateway_deployment_requests_total{adapter="qv-r4",deployment="stories",outcome="429",tenant="limited"} 1
graft_gateway_deployment_requests_total{adapter="qv-r4",deployment="stories",outcome="routed",tenant="limited"} 1
# HELP graft_gateway_rate_limited_total Requests refused by the key's requests or tokens per minute limit.
# TYPE graft_gateway_rate_limited_total counter
graft_gateway_rate_limited_total{deployment="stories",tenant="limited"} 1
`
	// waitRoutable's probes use the platform's own key: leave its series out.
	// The module counts in Envoy's process and serves its own /metrics.
	gather := reg.Gather
	if p.module {
		gather = func() ([]*dto.MetricFamily, error) { return scrape(p.front.GatewayMetrics) }
	}
	mfs, err := gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "deployment" && l.GetValue() == "nowhere" {
					t.Fatalf("%s has a series for a name that is no deployment", mf.GetName())
				}
				if l.GetName() == "tenant" && l.GetValue() == "" {
					t.Fatalf("%s has a series for a request with no tenant (refused at its headers)", mf.GetName())
				}
			}
		}
	}
	// The front's xDS server reports into the gateway's registry.
	if n, err := testutil.GatherAndCount(reg, "graft_xds_connected_envoys", "graft_xds_snapshot_info"); err != nil || n != 2 {
		t.Fatalf("xDS series in the gateway's registry: %d (%v)", n, err)
	}
	limited := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return onlyTenant(mfs, "limited"), nil })
	if err := testutil.GatherAndCompare(limited, strings.NewReader(want),
		"graft_gateway_deployment_requests_total", "graft_gateway_rate_limited_total"); err != nil {
		t.Fatal(err)
	}
}

func onlyTenant(mfs []*dto.MetricFamily, tenant string) []*dto.MetricFamily {
	var out []*dto.MetricFamily
	for _, mf := range mfs {
		keep := &dto.MetricFamily{Name: mf.Name, Help: mf.Help, Type: mf.Type}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "tenant" && l.GetValue() == tenant {
					keep.Metric = append(keep.Metric, m)
				}
			}
		}
		if len(keep.Metric) > 0 {
			out = append(out, keep)
		}
	}
	return out
}

// scrape reads a /metrics page as metric families.
func scrape(url string) ([]*dto.MetricFamily, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	dec := expfmt.NewDecoder(resp.Body, expfmt.NewFormat(expfmt.TypeTextPlain))
	var out []*dto.MetricFamily
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err == io.EOF {
			// A registry gathers in name order; the comparison expects it.
			slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
			return out, nil
		} else if err != nil {
			return nil, err
		}
		out = append(out, mf)
	}
}
