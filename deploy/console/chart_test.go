package console

import (
	"math"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestLineChart(t *testing.T) {
	c := lineChart("tokens/s", "tok/s", []float64{0, 10, math.NaN(), 5}, formatRate)
	if c.Points != "0.0,58.0 80.0,2.0 240.0,30.0" || c.Last != "5.00" || c.Peak != "10.00" || c.Empty {
		t.Errorf("chart: %+v", c)
	}
	if c := lineChart("x", "", nil, formatRate); !c.Empty || c.Points != "" {
		t.Errorf("no data: %+v", c)
	}
	if c := lineChart("x", "", []float64{0, 0}, formatRate); c.Points != "0.0,58.0 240.0,58.0" {
		t.Errorf("all zero draws on the axis: %+v", c)
	}
}

// TestCounters reads the sidecar's metric names from the text format and
// takes a counter that went down as a restarted replica.
func TestCounters(t *testing.T) {
	text := `# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{model_name="a"} 30
vllm:generation_tokens_total{model_name="b"} 12
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{model_name="a",le="+Inf"} 3
vllm:time_to_first_token_seconds_sum{model_name="a"} 0.06
vllm:time_to_first_token_seconds_count{model_name="a"} 3
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{model_name="a",le="+Inf"} 3
vllm:e2e_request_latency_seconds_sum{model_name="a"} 1.5
vllm:e2e_request_latency_seconds_count{model_name="a"} 3
`
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	c := countersOf(fams)
	if c != (counters{requests: 3, tokens: 42, ttftSum: 0.06, ttftCount: 3}) {
		t.Errorf("counters: %+v", c)
	}
	if d := c.since(counters{requests: 1, tokens: 40, ttftSum: 0.02, ttftCount: 1}); d.requests != 2 || d.tokens != 2 || d.ttftCount != 2 {
		t.Errorf("growth: %+v", d)
	}
	if d := c.since(counters{requests: 9, tokens: 400}); d != c {
		t.Errorf("after a restart all of it is new: %+v", d)
	}
	if c := countersOf(map[string]*dto.MetricFamily{}); c != (counters{}) {
		t.Errorf("no series: %+v", c)
	}
}

// TestLayout: spans come depth first, children by start time, a span whose
// parent is outside the trace (the client's) is a root, and bars sit on the
// trace's own timeline.
func TestLayout(t *testing.T) {
	span := func(id, parent, op string, start, dur int64) jaegerSpan {
		s := jaegerSpan{SpanID: id, OperationName: op, StartTime: start, Duration: dur, ProcessID: "p1"}
		if parent != "" {
			s.References = append(s.References, struct {
				RefType string `json:"refType"`
				SpanID  string `json:"spanID"`
			}{"CHILD_OF", parent})
		}
		return s
	}
	tr := jaegerTrace{TraceID: "ab", Processes: map[string]jaegerProcess{"p1": {ServiceName: "svc"}}, Spans: []jaegerSpan{
		span("c", "a", "late", 1500, 500), span("b", "a", "early", 1100, 100), span("a", "client", "root", 1000, 1000),
		span("d", "b", "grandchild", 1150, 10)}}
	wf := layout(tr)
	var got []string
	for _, r := range wf.Rows {
		got = append(got, strings.Repeat(".", r.Depth)+r.Op)
	}
	if strings.Join(got, " ") != "root .early ..grandchild .late" {
		t.Errorf("order: %v", got)
	}
	if r := wf.Rows[3]; r.Left != 50 || r.Width != 50 || r.Offset != "500µs" || wf.Total != "1.00ms" {
		t.Errorf("placement: %+v, total %s", r, wf.Total)
	}
}
