package replica

import (
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// vLLM's names and help texts, so dashboards and autoscalers built for vLLM
// read a Graft pod unchanged. lora_requests_info keeps vLLM's label set,
// which has no model_name.
var (
	descRunning = prometheus.NewDesc("vllm:num_requests_running", "Number of requests in model execution batches.", []string{"model_name"}, nil)
	descWaiting = prometheus.NewDesc("vllm:num_requests_waiting", "Number of requests waiting to be processed.", []string{"model_name"}, nil)
	descKV      = prometheus.NewDesc("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", []string{"model_name"}, nil)
	// vLLM declares these as Counters named without _total, which its Python
	// client adds on the wire: these are the names a scrape of vLLM shows.
	descPrefixQueries = prometheus.NewDesc("vllm:prefix_cache_queries_total", "Prefix cache queries, in terms of number of queried tokens.", []string{"model_name"}, nil)
	descPrefixHits    = prometheus.NewDesc("vllm:prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens.", []string{"model_name"}, nil)
	// Graft's own: how often adapters had to be loaded, the cost adapter-aware
	// routing exists to avoid.
	descAdapterLoads = prometheus.NewDesc("graft:adapter_loads_total", "Adapters read from their files into host memory (first loads and reads after eviction).", []string{"model_name"}, nil)
	descSlotLoads    = prometheus.NewDesc("graft:adapter_slot_loads_total", "Adapters copied into a compute slot.", []string{"model_name"}, nil)
	descLora         = prometheus.NewDesc("vllm:lora_requests_info", "Running stats on lora requests.",
		[]string{"running_lora_adapters", "waiting_lora_adapters", "max_lora"}, nil)
)

// collector serves the last poll's snapshot: a scrape never calls the engine,
// so a slow engine cannot stall a scrape and scrapes cannot load the engine.
type collector struct {
	mu   sync.Mutex
	snap *snapshot // nil: the engine did not answer the last poll
}

func (c *collector) set(s *snapshot) {
	c.mu.Lock()
	c.snap = s
	c.mu.Unlock()
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRunning
	ch <- descWaiting
	ch <- descKV
	ch <- descPrefixQueries
	ch <- descPrefixHits
	ch <- descAdapterLoads
	ch <- descSlotLoads
	ch <- descLora
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	s := c.snap
	c.mu.Unlock()
	if s == nil {
		return // no load to report; /readyz says why
	}
	ch <- prometheus.MustNewConstMetric(descRunning, prometheus.GaugeValue, float64(s.running), s.model)
	ch <- prometheus.MustNewConstMetric(descWaiting, prometheus.GaugeValue, float64(s.waiting), s.model)
	ch <- prometheus.MustNewConstMetric(descKV, prometheus.GaugeValue, s.kvUse, s.model)
	ch <- prometheus.MustNewConstMetric(descPrefixQueries, prometheus.CounterValue, float64(s.prefixQueries), s.model)
	ch <- prometheus.MustNewConstMetric(descPrefixHits, prometheus.CounterValue, float64(s.prefixHits), s.model)
	ch <- prometheus.MustNewConstMetric(descAdapterLoads, prometheus.CounterValue, float64(s.adapterLoads), s.model)
	ch <- prometheus.MustNewConstMetric(descSlotLoads, prometheus.CounterValue, float64(s.slotLoads), s.model)
	// vLLM's convention: the value is the time of the snapshot, the state is in labels.
	ch <- prometheus.MustNewConstMetric(descLora, prometheus.GaugeValue, float64(s.taken.UnixNano())/1e9,
		strings.Join(s.runningAdapters, ","), strings.Join(s.waitingAdapters, ","), strconv.Itoa(s.slotsTotal))
}
