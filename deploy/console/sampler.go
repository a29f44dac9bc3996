package console

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/graft-ai/graft/deploy"
)

// The charts are the replicas' own counters, read from each replica's
// /metrics (the sidecar's vLLM-named series) while someone looks at the
// console: requests finished, tokens generated and the time to first token
// of the requests finished since the last reading.
const (
	seriesRequests = "vllm:e2e_request_latency_seconds"
	seriesTokens   = "vllm:generation_tokens_total"
	seriesTTFT     = "vllm:time_to_first_token_seconds"
	// keepSamples at the default 2 s is the last four minutes.
	keepSamples = 120
	// idleAfter stops the scraping when no page has asked for a chart.
	idleAfter = 2 * time.Minute
)

// sample is one interval of a deployment, summed over its replicas.
type sample struct {
	At                time.Time
	Requests, Tokens  float64 // per second
	TTFT              float64 // mean seconds over the interval's requests
	HasTTFT, Replicas bool
}

// counters is one replica's reading.
type counters struct{ requests, tokens, ttftSum, ttftCount float64 }

type sampler struct {
	cfg     Config
	ctx     context.Context
	mu      sync.Mutex
	viewed  time.Time
	running bool
	last    time.Time
	prev    map[string]counters // by deployment/replica id
	series  map[string][]sample // by deployment
}

func newSampler(ctx context.Context, cfg Config) *sampler {
	return &sampler{cfg: cfg, ctx: ctx, prev: map[string]counters{}, series: map[string][]sample{}}
}

// samples returns a deployment's series and keeps the scraping going.
func (s *sampler) samples(deployment string) []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.viewed = time.Now()
	if !s.running && s.ctx.Err() == nil {
		s.running = true
		go s.loop()
	}
	return append([]sample(nil), s.series[deployment]...)
}

func (s *sampler) loop() {
	t := time.NewTicker(s.cfg.Scrape)
	defer t.Stop()
	s.tick()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		idle := time.Since(s.viewed) > idleAfter
		if idle {
			s.running = false
			s.last, s.prev = time.Time{}, map[string]counters{} // a gap: start over
		}
		s.mu.Unlock()
		if idle {
			return
		}
		s.tick()
	}
}

// tick reads every replica of every deployment once.
func (s *sampler) tick() {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Scrape)
	defer cancel()
	recs, err := s.cfg.Deployments.List(ctx)
	if err != nil {
		s.cfg.Log.Debug("console charts: listing deployments", "err", err)
		return
	}
	now := time.Now()
	readings := map[string]map[string]counters{}
	for _, rec := range recs {
		if rec.Status == deploy.Deleted {
			continue
		}
		readings[rec.Name] = s.read(ctx, rec.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	interval := now.Sub(s.last).Seconds()
	first := s.last.IsZero()
	s.last = now
	prev := s.prev
	s.prev = map[string]counters{}
	for name, reps := range readings {
		var d counters
		for id, cur := range reps {
			key := name + "/" + id
			s.prev[key] = cur
			if p, ok := prev[key]; ok {
				d = d.add(cur.since(p))
			}
		}
		if first {
			continue
		}
		smp := sample{At: now, Requests: d.requests / interval, Tokens: d.tokens / interval, Replicas: len(reps) > 0}
		if d.ttftCount > 0 {
			smp.TTFT, smp.HasTTFT = d.ttftSum/d.ttftCount, true
		}
		ser := append(s.series[name], smp)
		if len(ser) > keepSamples {
			ser = ser[len(ser)-keepSamples:]
		}
		s.series[name] = ser
	}
}

// read scrapes the deployment's replicas; one that does not answer is left
// out (its next reading starts from there).
func (s *sampler) read(ctx context.Context, deployment string) map[string]counters {
	out := map[string]counters{}
	replicas, err := s.cfg.Store.Replicas(ctx, deployment)
	if err != nil {
		return out
	}
	for _, rp := range replicas {
		if rp.Addr == "" {
			continue
		}
		c, err := s.scrape(ctx, rp.Addr)
		if err != nil {
			s.cfg.Log.Debug("console charts: scraping a replica", "deployment", deployment, "replica", rp.ID, "err", err)
			continue
		}
		out[rp.ID] = c
	}
	return out
}

func (s *sampler) scrape(ctx context.Context, addr string) (counters, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/metrics", nil)
	if err != nil {
		return counters{}, err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := s.cfg.HTTP.Do(req)
	if err != nil {
		return counters{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return counters{}, fmt.Errorf("%s/metrics: %s", addr, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return counters{}, fmt.Errorf("%s/metrics: %w", addr, err)
	}
	return countersOf(fams), nil
}

// countersOf sums the series over their labels (one per served model name).
func countersOf(fams map[string]*dto.MetricFamily) counters {
	var c counters
	for _, m := range fams[seriesRequests].GetMetric() {
		c.requests += float64(m.GetHistogram().GetSampleCount())
	}
	for _, m := range fams[seriesTokens].GetMetric() {
		c.tokens += m.GetCounter().GetValue()
	}
	for _, m := range fams[seriesTTFT].GetMetric() {
		c.ttftSum += m.GetHistogram().GetSampleSum()
		c.ttftCount += float64(m.GetHistogram().GetSampleCount())
	}
	return c
}

// since is the growth from p; a counter that went down restarted (a new
// replica process under the same id), so all of it is new.
func (c counters) since(p counters) counters {
	if c.requests < p.requests || c.tokens < p.tokens || c.ttftCount < p.ttftCount {
		return c
	}
	return counters{c.requests - p.requests, c.tokens - p.tokens, c.ttftSum - p.ttftSum, c.ttftCount - p.ttftCount}
}

func (c counters) add(d counters) counters {
	return counters{c.requests + d.requests, c.tokens + d.tokens, c.ttftSum + d.ttftSum, c.ttftCount + d.ttftCount}
}
