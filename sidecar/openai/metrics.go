package openai

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics carries vLLM's metric names, so dashboards and autoscalers built for
// vLLM read a Graft pod unchanged. These are the per-request ones the API sees;
// the engine's load (running, waiting, KV use, LoRA residency) is registered on
// the same Registry by whoever polls the engine.
type metrics struct {
	registry         *prometheus.Registry
	ttft, e2e        *prometheus.HistogramVec
	promptTokens     *prometheus.CounterVec
	generationTokens *prometheus.CounterVec
}

// Buckets as vLLM defines them.
var (
	ttftBuckets = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0}
	e2eBuckets  = []float64{0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0}
)

func newMetrics() *metrics {
	m := &metrics{registry: prometheus.NewRegistry()}
	label := []string{"model_name"}
	m.ttft = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vllm:time_to_first_token_seconds",
		Help: "Histogram of time to first token in seconds.", Buckets: ttftBuckets}, label)
	m.e2e = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vllm:e2e_request_latency_seconds",
		Help: "Histogram of end to end request latency in seconds.", Buckets: e2eBuckets}, label)
	m.promptTokens = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vllm:prompt_tokens_total",
		Help: "Number of prefill tokens processed."}, label)
	m.generationTokens = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vllm:generation_tokens_total",
		Help: "Number of generation tokens processed."}, label)
	m.registry.MustRegister(m.ttft, m.e2e, m.promptTokens, m.generationTokens,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
