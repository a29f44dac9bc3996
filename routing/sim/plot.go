package sim

import (
	"fmt"
	"image/color"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// metric is one figure of a Result that gets a chart.
type metric struct {
	file, title string
	value       func(Result) float64
}

var metrics = []metric{
	{"throughput", "completed requests/s", func(r Result) float64 { return r.Throughput }},
	{"ttft-p50", "TTFT p50 (s)", func(r Result) float64 { return r.TTFT50 }},
	{"ttft-p99", "TTFT p99 (s)", func(r Result) float64 { return r.TTFT99 }},
	{"e2e-p99", "end-to-end p99 (s)", func(r Result) float64 { return r.E2E99 }},
	{"loads-per-1k", "adapter loads per 1000 requests", func(r Result) float64 { return r.LoadsPer1k }},
	{"waited-load", "requests that waited for a load (%)", func(r Result) float64 { return 100 * r.WaitedLoad }},
	{"imbalance", "per-replica load, max/mean", func(r Result) float64 { return r.Imbalance }},
}

// WritePlots draws one grouped bar chart per metric (scenario on the x
// axis, one bar per policy) as PNG and SVG under dir; it returns the files.
func WritePlots(dir string, rs []Result) ([]string, error) {
	var scenarios, policies []string
	seenS, seenP := map[string]bool{}, map[string]bool{}
	for _, r := range rs {
		if s := scenario(r); !seenS[s] {
			seenS[s] = true
			scenarios = append(scenarios, s)
		}
		if !seenP[r.Policy] {
			seenP[r.Policy] = true
			policies = append(policies, r.Policy)
		}
	}
	var files []string
	for _, m := range metrics {
		p := plot.New()
		p.Title.Text = m.title
		p.Legend.Top = true
		w := vg.Points(float64(min(60, 400/max(len(scenarios)*len(policies), 1))) + 4)
		for i, pol := range policies {
			vals := make(plotter.Values, len(scenarios))
			for _, r := range rs {
				if r.Policy == pol {
					vals[indexOf(scenarios, scenario(r))] = m.value(r)
				}
			}
			bars, err := plotter.NewBarChart(vals, w)
			if err != nil {
				return nil, err
			}
			bars.LineStyle.Width = 0
			bars.Color = plotutil.Color(i)
			bars.Offset = w * vg.Length(float64(i)-float64(len(policies)-1)/2)
			p.Add(bars)
			p.Legend.Add(pol, bars)
		}
		p.NominalX(scenarios...)
		p.Y.Min = 0
		top := 0.0
		for _, r := range rs {
			top = max(top, m.value(r))
		}
		p.Y.Max = top * 1.3 // room for the legend
		p.Add(plotter.NewGrid())
		p.BackgroundColor = color.White
		for _, ext := range []string{"png", "svg"} {
			f := filepath.Join(dir, m.file+"."+ext)
			if err := p.Save(vg.Length(max(7, len(scenarios)))*vg.Inch, 5*vg.Inch, f); err != nil {
				return nil, fmt.Errorf("plot %s: %w", f, err)
			}
			files = append(files, f)
		}
	}
	return files, nil
}

func scenario(r Result) string {
	s := fmt.Sprintf("%d×%s", r.Replicas, thousands(r.Adapters))
	if r.Bursty {
		s += " on/off"
	}
	return s
}

func thousands(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

func indexOf(xs []string, x string) int {
	for i, y := range xs {
		if strings.EqualFold(x, y) {
			return i
		}
	}
	return -1
}
