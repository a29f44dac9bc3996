package grafana_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/grafana"
	"github.com/graft-ai/graft/deploy/local"
	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/gateway"
	"github.com/graft-ai/graft/internal/testengine/served"
	"github.com/graft-ai/graft/internal/testserver"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
	"github.com/graft-ai/graft/sidecar/gpu"
	"github.com/graft-ai/graft/sidecar/openai"
	"github.com/graft-ai/graft/sidecar/replica"
	"github.com/graft-ai/graft/xds"
)

// TestEveryPanelQueriesAnExportedMetric loads the dashboard and checks each
// panel's queries (and the template's) name only metrics that Graft's own
// registries hold, gathered from the real components.
func TestEveryPanelQueriesAnExportedMetric(t *testing.T) {
	var d dashboard
	if err := json.Unmarshal(grafana.Dashboard, &d); err != nil {
		t.Fatal(err)
	}
	exported := exportedMetrics(t)
	queries := 0
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			queries++
			checkQuery(t, p.Title, tg.Expr, exported)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			// label_values(metric, label): the label is no metric.
			checkQuery(t, "variable "+v.Name, labelValues.ReplaceAllString(v.Definition, "$1"), exported)
		}
	}
	t.Logf("%d panels, %d queries, against %d exported metrics", len(d.Panels), queries, len(exported))
}

// The checker itself must catch a name nothing exports, or the test above
// could not fail.
func TestCheckerCatchesAnUnknownMetric(t *testing.T) {
	known := map[string]bool{"graft_xds_pushes_total": true}
	if got := metricNames(`sum by (le) (rate(graft_xds_pushes_totl{a="b"}[$__rate_interval]))`); !slices.Equal(got, []string{"graft_xds_pushes_totl"}) {
		t.Fatalf("names = %q", got)
	}
	for _, name := range metricNames(`rate(graft_xds_pushes_totl[5m])`) {
		if known[name] {
			t.Fatal("a misspelt name passed")
		}
	}
}

func checkQuery(t *testing.T, where, expr string, exported map[string]bool) {
	t.Helper()
	names := metricNames(expr)
	if len(names) == 0 {
		t.Errorf("%s: query %q names no metric", where, expr)
	}
	for _, n := range names {
		if !exported[n] && !exported[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")] {
			t.Errorf("%s: %q is not a metric Graft exports (query %q)", where, n, expr)
		}
	}
}

var (
	labelSets   = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]|"[^"]*"`)
	grouping    = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	ident       = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	labelValues = regexp.MustCompile(`label_values\(\s*([^,]+),\s*\w+\s*\)`)
	keywords    = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true}
)

// metricNames returns the metric selectors of a PromQL expression: the
// identifiers left once label matchers, ranges, strings and groupings are
// gone, less functions (followed by a parenthesis) and operators.
func metricNames(expr string) []string {
	e := grouping.ReplaceAllString(labelSets.ReplaceAllString(expr, " "), " ")
	var out []string
	for _, m := range ident.FindAllString(e, -1) {
		if strings.HasSuffix(m, "(") || keywords[m] || strings.HasPrefix(m, "$") {
			continue
		}
		out = append(out, m)
	}
	return out
}

type dashboard struct {
	Panels []struct {
		Title, Type string
		Targets     []struct{ Expr string }
	}
	Templating struct {
		List []struct{ Name, Type, Definition string }
	}
}

// exportedMetrics builds each Graft component with a registry and collects
// every metric name it describes or, for the sidecar's API, serves after a
// real request.
func exportedMetrics(t *testing.T) map[string]bool {
	names := &described{names: map[string]bool{}}
	rds := testserver.Redis(t)
	store, err := state.Open("redis://" + rds.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	records := deploy.Records{Store: store}
	if _, err := gateway.New(gateway.Config{Store: store, Deployments: gateway.FromRecords(records, records), Registry: names}); err != nil {
		t.Fatal(err)
	}
	xs, err := xds.NewServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := xs.Register(names); err != nil {
		t.Fatal(err)
	}
	prov, err := local.New(local.Config{Redis: "redis://" + rds.Addr, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deploy.NewManager(deploy.ManagerConfig{Store: store, Provider: prov, Registerer: names}); err != nil {
		t.Fatal(err)
	}
	names.MustRegister(gpu.Open(nil))

	conn := engineConn(t)
	api := openai.New(openai.Config{Engine: conn})
	rep, err := replica.Start(context.Background(), replica.Config{Engine: enginev1.NewEngineClient(conn),
		Deployment: "d", ReplicaID: "r", Addr: "127.0.0.1:1", Registerer: names})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rep.Stop)
	// The API's histograms have series only once a request was served.
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/completions",
		strings.NewReader(`{"model":"stories260K","prompt":"Once","max_tokens":2}`)))
	if rec.Code != http.StatusOK {
		t.Fatalf("completion: %d %s", rec.Code, rec.Body)
	}
	mfs, err := api.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names.names[mf.GetName()] = true
	}
	return names.names
}

func engineConn(t *testing.T) *grpc.ClientConn {
	conn, _ := served.Stories(t, engine.Config{MaxNumSeqs: 2})
	return conn
}

// described is a Registerer that keeps the names its collectors describe,
// so metrics with no series yet (vectors never used) count as exported.
type described struct{ names map[string]bool }

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (d *described) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for desc := range ch {
		m := fqName.FindStringSubmatch(desc.String())
		if m == nil {
			return fmt.Errorf("no name in %s", desc)
		}
		d.names[m[1]] = true
	}
	return nil
}

func (d *described) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := d.Register(c); err != nil {
			panic(err)
		}
	}
}

func (d *described) Unregister(prometheus.Collector) bool { return true }
