package openai

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// metrics carries vLLM's metric names, so dashboards and autoscalers built for
// vLLM read a Graft pod unchanged.
type metrics struct {
	registry         *prometheus.Registry
	ttft, e2e        *prometheus.HistogramVec
	promptTokens     *prometheus.CounterVec
	generationTokens *prometheus.CounterVec

	mu      sync.Mutex
	running map[string]int // in-flight requests per adapter
}

// Buckets as vLLM defines them.
var (
	ttftBuckets = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0}
	e2eBuckets  = []float64{0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0}
)

func newMetrics(s *Server) *metrics {
	m := &metrics{registry: prometheus.NewRegistry(), running: map[string]int{}}
	label := []string{"model_name"}
	m.ttft = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vllm:time_to_first_token_seconds",
		Help: "Histogram of time to first token in seconds.", Buckets: ttftBuckets}, label)
	m.e2e = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vllm:e2e_request_latency_seconds",
		Help: "Histogram of end to end request latency in seconds.", Buckets: e2eBuckets}, label)
	m.promptTokens = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vllm:prompt_tokens_total",
		Help: "Number of prefill tokens processed."}, label)
	m.generationTokens = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vllm:generation_tokens_total",
		Help: "Number of generation tokens processed."}, label)
	m.registry.MustRegister(m.ttft, m.e2e, m.promptTokens, m.generationTokens, &engineCollector{s: s},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) begin(adapter string) {
	m.mu.Lock()
	m.running[adapter]++
	m.mu.Unlock()
}

func (m *metrics) end(adapter string) {
	m.mu.Lock()
	if m.running[adapter]--; m.running[adapter] <= 0 {
		delete(m.running, adapter)
	}
	m.mu.Unlock()
}

func (m *metrics) runningAdapters() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for id := range m.running {
		if id != "" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// engineCollector reads the engine's load at scrape time, so the gauges are
// never staler than the scrape.
type engineCollector struct{ s *Server }

var (
	descRunning = prometheus.NewDesc("vllm:num_requests_running", "Number of requests in model execution batches.", []string{"model_name"}, nil)
	descWaiting = prometheus.NewDesc("vllm:num_requests_waiting", "Number of requests waiting to be processed.", []string{"model_name"}, nil)
	descKV      = prometheus.NewDesc("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", []string{"model_name"}, nil)
	descLora    = prometheus.NewDesc("vllm:lora_requests_info", "Running stats on lora requests.",
		[]string{"running_lora_adapters", "waiting_lora_adapters", "max_lora"}, nil)
)

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRunning
	ch <- descWaiting
	ch <- descKV
	ch <- descLora
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := c.s.engine.Stats(ctx, &enginev1.StatsRequest{})
	if err != nil {
		return // an unreachable engine has no load to report; /readyz says why
	}
	model, _ := c.s.baseModel(ctx)
	ch <- prometheus.MustNewConstMetric(descRunning, prometheus.GaugeValue, float64(st.RunningSequences), model)
	ch <- prometheus.MustNewConstMetric(descWaiting, prometheus.GaugeValue, float64(st.QueueDepth), model)
	kv := 0.0
	if st.KvBlocksTotal > 0 {
		kv = float64(st.KvBlocksUsed) / float64(st.KvBlocksTotal)
	}
	ch <- prometheus.MustNewConstMetric(descKV, prometheus.GaugeValue, kv, model)
	var waiting []string
	if la, err := c.s.engine.ListAdapters(ctx, &enginev1.ListAdaptersRequest{}); err == nil {
		for _, a := range la.Adapters {
			if a.WaitingSequences > 0 {
				waiting = append(waiting, a.AdapterId)
			}
		}
	}
	// vLLM's convention: the value is the time of the snapshot, the state is in labels.
	ch <- prometheus.MustNewConstMetric(descLora, prometheus.GaugeValue, float64(time.Now().UnixNano())/1e9,
		strings.Join(c.s.metrics.runningAdapters(), ","), strings.Join(waiting, ","), strconv.Itoa(int(st.AdapterSlotsTotal)))
}
