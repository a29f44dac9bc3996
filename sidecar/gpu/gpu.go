// Package gpu reads the replica's GPUs through NVML and publishes them under
// the names NVIDIA's DCGM exporter uses, so GPU dashboards built for DCGM read
// a Graft pod unchanged.
package gpu

import (
	"errors"
	"log/slog"
	"os"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Reading is one GPU at one moment. A field NVML could not answer is -1.
type Reading struct {
	Index         int
	UUID, Name    string
	UtilPercent   float64
	MemUsedBytes  int64
	MemTotalBytes int64
	TempCelsius   float64
	PowerWatts    float64
	// ProcessMemBytes is the memory this process (and the engine, when it
	// shares the pid) holds on the GPU.
	ProcessMemBytes int64
}

// source is what the monitor reads; NVML in production, go-nvml's mock in tests.
type source interface {
	read() ([]Reading, error)
	close()
}

// ErrNoGPU says no GPU could be read: no NVML library, no driver, no device,
// or a build without cgo.
var ErrNoGPU = errors.New("gpu: no GPU")

// Monitor reads the GPUs on demand: at each scrape and each heartbeat. NVML
// calls take microseconds, so no poller is needed.
type Monitor struct {
	log    *slog.Logger
	mu     sync.Mutex
	src    source // nil: no GPU, or closed
	failed bool   // so a failing device is logged once, not every scrape
}

// Open starts NVML for the GPUs this process can see. Without one it logs
// "no GPU" once and returns a Monitor that reports nothing.
func Open(log *slog.Logger) *Monitor {
	if log == nil {
		log = slog.Default()
	}
	src, err := openNVML(os.Getpid())
	if err != nil {
		log.Info("no GPU: GPU telemetry off", "reason", err)
		return &Monitor{log: log}
	}
	return &Monitor{src: src, log: log}
}

// Read returns the current readings; nil without a GPU or when NVML fails.
func (m *Monitor) Read() []Reading {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	src := m.src
	m.mu.Unlock()
	if src == nil {
		return nil
	}
	rs, err := src.read()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		if !m.failed {
			m.log.Warn("GPU telemetry read failed; retrying at each scrape", "err", err)
		}
		m.failed = true
		return nil
	}
	if m.failed {
		m.log.Info("GPU telemetry read again")
		m.failed = false
	}
	return rs
}

// Close releases NVML; the Monitor then reports nothing.
func (m *Monitor) Close() {
	if m == nil {
		return
	}
	m.mu.Lock()
	src := m.src
	m.src = nil
	m.mu.Unlock()
	if src != nil {
		src.close()
	}
}

// Memory sums used and total memory over the GPUs, for the replica
// heartbeat; zeros without a GPU.
func (m *Monitor) Memory() (used, total int64) {
	for _, r := range m.Read() {
		if r.MemTotalBytes > 0 {
			used += r.MemUsedBytes
			total += r.MemTotalBytes
		}
	}
	return used, total
}

// DCGM's names, units and labels (gpu, UUID, modelName).
var (
	labels      = []string{"gpu", "UUID", "modelName"}
	descUtil    = prometheus.NewDesc("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", labels, nil)
	descFBUsed  = prometheus.NewDesc("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", labels, nil)
	descFBFree  = prometheus.NewDesc("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", labels, nil)
	descFBTotal = prometheus.NewDesc("DCGM_FI_DEV_FB_TOTAL", "Framebuffer memory total (in MiB).", labels, nil)
	descTemp    = prometheus.NewDesc("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", labels, nil)
	descPower   = prometheus.NewDesc("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", labels, nil)
	// DCGM has no per-process gauge: this one is Graft's.
	descProc = prometheus.NewDesc("graft_gpu_process_memory_bytes", "GPU memory held by this replica's process.", labels, nil)
)

// Describe implements prometheus.Collector.
func (m *Monitor) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUtil, descFBUsed, descFBFree, descFBTotal, descTemp, descPower, descProc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector; a value NVML did not answer is left out.
func (m *Monitor) Collect(ch chan<- prometheus.Metric) {
	const mib = 1 << 20
	for _, r := range m.Read() {
		lv := []string{strconv.Itoa(r.Index), r.UUID, r.Name}
		emit := func(d *prometheus.Desc, v float64) {
			if v >= 0 {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
			}
		}
		emit(descUtil, r.UtilPercent)
		if r.MemTotalBytes >= 0 && r.MemUsedBytes >= 0 {
			emit(descFBUsed, float64(r.MemUsedBytes/mib))
			emit(descFBFree, float64((r.MemTotalBytes-r.MemUsedBytes)/mib))
			emit(descFBTotal, float64(r.MemTotalBytes/mib))
		}
		emit(descTemp, r.TempCelsius)
		emit(descPower, r.PowerWatts)
		emit(descProc, float64(r.ProcessMemBytes))
	}
}
