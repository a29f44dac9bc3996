package console

import (
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/graft-ai/graft/deploy"
)

// Chart is a small line chart drawn by the template as an SVG polyline; any
// series fits (a fine-tuning loss curve as well as a request rate).
type Chart struct {
	Label, Unit string
	Points      string // "x,y x,y" in the 240×60 view box
	LastX       string // the newest point, marked (a lone point draws no line)
	LastY       string
	Last, Peak  string // formatted values
	PeakValue   float64
	Empty       bool
}

const chartW, chartH = 240.0, 60.0

// lineChart scales values (oldest first) into the view box, zero at the
// bottom; NaN values are gaps in the data and are skipped.
func lineChart(label, unit string, values []float64, format func(float64) string) Chart {
	c := Chart{Label: label, Unit: unit, Empty: true}
	peak := 0.0
	for _, v := range values {
		if !math.IsNaN(v) && v > peak {
			peak = v
		}
	}
	scale := peak
	if scale == 0 {
		scale = 1
	}
	var pts []string
	for i, v := range values {
		if math.IsNaN(v) {
			continue
		}
		x := chartW
		if len(values) > 1 {
			x = float64(i) * chartW / float64(len(values)-1)
		}
		y := chartH - 2 - v/scale*(chartH-4)
		c.LastX, c.LastY = strconv.FormatFloat(x, 'f', 1, 64), strconv.FormatFloat(y, 'f', 1, 64)
		pts = append(pts, c.LastX+","+c.LastY)
		c.Last, c.Empty = format(v), false
	}
	c.Points = strings.Join(pts, " ")
	c.Peak, c.PeakValue = format(peak), peak
	return c
}

func formatRate(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
func formatMs(v float64) string   { return strconv.FormatFloat(v*1000, 'f', 1, 64) }
func formatPct(v float64) string  { return strconv.FormatFloat(v*100, 'f', 0, 64) + "%" }

// deploymentCharts are one deployment's request rate, tokens/s and TTFT.
type deploymentCharts struct {
	Name    string
	Charts  []Chart
	Window  string
	Samples int
}

func (c *Console) chartsOf(name string) deploymentCharts {
	ss := c.charts.samples(name)
	req, tok, ttft := make([]float64, len(ss)), make([]float64, len(ss)), make([]float64, len(ss))
	for i, s := range ss {
		req[i], tok[i], ttft[i] = s.Requests, s.Tokens, s.TTFT
		if !s.HasTTFT {
			ttft[i] = math.NaN()
		}
	}
	window := ""
	if len(ss) > 1 {
		window = ss[len(ss)-1].At.Sub(ss[0].At).Round(time.Second).String()
	}
	return deploymentCharts{Name: name, Window: window, Samples: len(ss), Charts: []Chart{
		lineChart("requests/s", "req/s", req, formatRate),
		lineChart("tokens/s", "tok/s", tok, formatRate),
		lineChart("time to first token", "ms", ttft, formatMs),
	}}
}

func (c *Console) deploymentCharts(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := deploy.CheckName(name); err != nil {
		writeError(w, http.StatusNotFound, "deployment_not_found", err.Error())
		return
	}
	fragment(w, "deployment-charts", c.chartsOf(name))
}

func (c *Console) allCharts(w http.ResponseWriter, r *http.Request) {
	recs, err := c.cfg.Deployments.List(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "state_unavailable", "reading the deployments: "+err.Error())
		return
	}
	slices.SortFunc(recs, func(a, b deploy.Record) int { return strings.Compare(a.Name, b.Name) })
	var all []deploymentCharts
	for _, rec := range recs {
		if rec.Status != deploy.Deleted {
			all = append(all, c.chartsOf(rec.Name))
		}
	}
	fragment(w, "all-charts", all)
}
