package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// traceSummary is one row of the recent traces.
type traceSummary struct {
	ID, Root, Deployment string
	Start                time.Time
	Duration             string
	Spans                int
	Services             []string
}

type traceList struct {
	Off      string // why there are no traces to show
	Service  string
	Services []string
	Traces   []traceSummary
}

// defaultServices: Envoy's span is every request's root; without an Envoy
// tracer the gateway's is the next best.
var defaultServices = []string{"envoy", "graft-gateway", "graft-sidecar"}

func (c *Console) traceList(w http.ResponseWriter, r *http.Request) {
	if c.cfg.JaegerURL == "" {
		fragment(w, "trace-list", traceList{Off: "Tracing is off: the control process was given no Jaeger query URL (graft up starts Jaeger when `make jaeger` has built it)."})
		return
	}
	var services []string
	if err := c.jaegerGet(r.Context(), "/api/services", nil, &services); err != nil {
		jaegerFail(w, err)
		return
	}
	slices.Sort(services)
	l := traceList{Services: services, Service: r.URL.Query().Get("service")}
	if l.Service == "" {
		for _, s := range defaultServices {
			if slices.Contains(services, s) {
				l.Service = s
				break
			}
		}
	}
	if l.Service == "" {
		l.Off = "No traces yet: Jaeger has heard from no service. Send a request."
		fragment(w, "trace-list", l)
		return
	}
	var traces []jaegerTrace
	q := url.Values{"service": {l.Service}, "limit": {"20"}, "lookback": {"1h"}}
	if err := c.jaegerGet(r.Context(), "/api/traces", q, &traces); err != nil {
		jaegerFail(w, err)
		return
	}
	for _, t := range traces {
		l.Traces = append(l.Traces, summarize(t))
	}
	slices.SortFunc(l.Traces, func(a, b traceSummary) int { return b.Start.Compare(a.Start) })
	fragment(w, "trace-list", l)
}

func summarize(t jaegerTrace) traceSummary {
	s := traceSummary{ID: t.TraceID, Spans: len(t.Spans)}
	var first, last int64
	for i, sp := range t.Spans {
		end := sp.StartTime + sp.Duration
		if i == 0 || sp.StartTime < first {
			first = sp.StartTime
		}
		if end > last {
			last = end
		}
		if sp.parent() == "" && s.Root == "" {
			s.Root = t.Processes[sp.ProcessID].ServiceName + ": " + sp.OperationName
		}
		if d := sp.tag("graft.deployment"); d != "" && s.Deployment == "" {
			s.Deployment = d
		}
	}
	for _, p := range t.Processes {
		if !slices.Contains(s.Services, p.ServiceName) {
			s.Services = append(s.Services, p.ServiceName)
		}
	}
	slices.Sort(s.Services)
	s.Start = time.UnixMicro(first).UTC()
	s.Duration = micros(last - first)
	return s
}

// waterfallRow is one span: indented under its parent, its bar placed on
// the trace's timeline in percent.
type waterfallRow struct {
	Depth            int
	Service, Op      string
	Offset, Duration string
	Left, Width      float64
	Tags             string
	Error            bool
}

type waterfall struct {
	ID       string
	Total    string
	Services []string
	Rows     []waterfallRow
}

var traceID = regexp.MustCompile(`^[0-9a-f]{1,32}$`)

func (c *Console) traceWaterfall(w http.ResponseWriter, r *http.Request) {
	id := strings.ToLower(r.PathValue("id"))
	if !traceID.MatchString(id) {
		writeError(w, http.StatusBadRequest, "invalid_trace_id", "a trace id is 1 to 32 hex digits")
		return
	}
	if c.cfg.JaegerURL == "" {
		writeError(w, http.StatusNotFound, "tracing_off", "tracing is off: the control process has no Jaeger query URL")
		return
	}
	var traces []jaegerTrace
	if err := c.jaegerGet(r.Context(), "/api/traces/"+id, nil, &traces); err != nil {
		jaegerFail(w, err)
		return
	}
	if len(traces) == 0 {
		writeError(w, http.StatusNotFound, "trace_not_found", "Jaeger has no trace "+id)
		return
	}
	fragment(w, "trace-waterfall", layout(traces[0]))
}

// layout orders the spans depth first, children by start time, and places
// each on the trace's timeline. Spans whose parent is not in the trace
// (the client's own, say) are roots.
func layout(t jaegerTrace) waterfall {
	spans := t.Spans
	ids := map[string]bool{}
	var first, last int64
	for i, s := range spans {
		ids[s.SpanID] = true
		if i == 0 || s.StartTime < first {
			first = s.StartTime
		}
		last = max(last, s.StartTime+s.Duration)
	}
	total := max(last-first, 1)
	children := map[string][]jaegerSpan{}
	for _, s := range spans {
		p := s.parent()
		if !ids[p] {
			p = ""
		}
		children[p] = append(children[p], s)
	}
	wf := waterfall{ID: t.TraceID, Total: micros(total), Services: summarize(t).Services}
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		kids := children[parent]
		slices.SortStableFunc(kids, func(a, b jaegerSpan) int { return int(a.StartTime - b.StartTime) })
		for _, s := range kids {
			wf.Rows = append(wf.Rows, waterfallRow{Depth: depth, Service: t.Processes[s.ProcessID].ServiceName,
				Op: s.OperationName, Offset: micros(s.StartTime - first), Duration: micros(s.Duration),
				Left: pct(s.StartTime-first, total), Width: max(pct(s.Duration, total), 0.3),
				Tags: shownTags(s), Error: s.tag("error") == "true" || s.tag("otel.status_code") == "ERROR"})
			walk(s.SpanID, depth+1)
		}
	}
	walk("", 0)
	return wf
}

// shownTags are the attributes Graft's spans carry (token counts, adapter,
// batch size, status codes), not the instrumentation's plumbing.
func shownTags(s jaegerSpan) string {
	var out []string
	for _, t := range s.Tags {
		k := t.Key
		if strings.HasPrefix(k, "graft.") || strings.HasPrefix(k, "gen_ai.") || k == "http.response.status_code" ||
			k == "http.status_code" || k == "rpc.grpc.status_code" || k == "error" {
			out = append(out, k+"="+strings.TrimSpace(tagValue(t.Value)))
		}
	}
	return strings.Join(out, " ")
}

func tagValue(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func pct(part, whole int64) float64 {
	return float64(int64(float64(part)/float64(whole)*10000)) / 100
}

// micros formats a duration in microseconds at a readable precision.
func micros(us int64) string {
	d := time.Duration(us) * time.Microsecond
	switch {
	case d < time.Millisecond:
		return strconv.FormatInt(us, 10) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(us)/1000, 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
}

func jaegerFail(w http.ResponseWriter, err error) {
	var je *jaegerError
	if errors.As(err, &je) {
		writeError(w, je.status, "jaeger_unavailable", je.msg)
		return
	}
	writeError(w, http.StatusBadGateway, "jaeger_unavailable", err.Error())
}
