//go:build cgo

package gpu

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const pid = 4242

// h100 is go-nvml's mock of a DGX H100 with telemetry set on GPU 0 and 1;
// the mock answers memory itself and leaves the rest to us.
func h100(t *testing.T) *server.Server {
	t.Helper()
	s := dgxh100.New()
	for i, d := range s.Devices {
		dev := d.(*server.Device)
		dev.MemoryInfo = nvml.Memory{Total: 80 << 30, Used: uint64(i+1) << 30}
		dev.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
			return nvml.Utilization{Gpu: uint32(10 * (i + 1))}, nvml.SUCCESS
		}
		dev.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return uint32(40 + i), nvml.SUCCESS }
		dev.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 250500, nvml.SUCCESS }
		dev.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
			return []nvml.ProcessInfo{{Pid: pid, UsedGpuMemory: 512 << 20}, {Pid: pid + 1, UsedGpuMemory: 1 << 30}}, nvml.SUCCESS
		}
	}
	return s
}

func TestNVMLReadsEveryDevice(t *testing.T) {
	s := h100(t)
	src, err := newNVMLSource(s, pid)
	if err != nil {
		t.Fatal(err)
	}
	m := &Monitor{src: src, log: slog.Default()}
	rs := m.Read()
	if len(rs) != len(s.Devices) {
		t.Fatalf("%d readings for %d devices", len(rs), len(s.Devices))
	}
	r := rs[1]
	if r.UtilPercent != 20 || r.TempCelsius != 41 || r.PowerWatts != 250.5 || r.MemUsedBytes != 2<<30 ||
		r.MemTotalBytes != 80<<30 || r.ProcessMemBytes != 512<<20 || !strings.HasPrefix(r.UUID, "GPU-") || r.Name == "" {
		t.Fatalf("GPU 1 read as %+v", r)
	}
	defer func() {
		m.Close()
		if n := len(s.ShutdownCalls()); n != 1 {
			t.Errorf("NVML shut down %d times, want 1", n)
		}
		if m.Read() != nil {
			t.Error("a closed Monitor still reads")
		}
	}()
	used, total := m.Memory()
	n := int64(len(s.Devices))
	if want := n * (n + 1) / 2 << 30; used != want || total != n*80<<30 {
		t.Fatalf("Memory() = %d/%d, want %d/%d", used, total, want, n*80<<30)
	}
}

func TestNVMLPublishesDCGMNames(t *testing.T) {
	s := h100(t)
	s.Devices = s.Devices[:1]
	src, err := newNVMLSource(s, pid)
	if err != nil {
		t.Fatal(err)
	}
	m := &Monitor{src: src, log: slog.Default()}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	r := m.Read()[0]
	lv := `{UUID="` + r.UUID + `",gpu="0",modelName="` + r.Name + `"}`
	want := `
# HELP DCGM_FI_DEV_FB_FREE Framebuffer memory free (in MiB).
# TYPE DCGM_FI_DEV_FB_FREE gauge
DCGM_FI_DEV_FB_FREE` + lv + ` 80896
# HELP DCGM_FI_DEV_FB_USED Framebuffer memory used (in MiB).
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED` + lv + ` 1024
# HELP DCGM_FI_DEV_GPU_TEMP GPU temperature (in C).
# TYPE DCGM_FI_DEV_GPU_TEMP gauge
DCGM_FI_DEV_GPU_TEMP` + lv + ` 40
# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL` + lv + ` 10
# HELP DCGM_FI_DEV_POWER_USAGE Power draw (in W).
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
DCGM_FI_DEV_POWER_USAGE` + lv + ` 250.5
# HELP graft_gpu_process_memory_bytes GPU memory held by this replica's process.
# TYPE graft_gpu_process_memory_bytes gauge
graft_gpu_process_memory_bytes` + lv + ` 5.36870912e+08
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_FB_USED",
		"DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_POWER_USAGE", "graft_gpu_process_memory_bytes"); err != nil {
		t.Fatal(err)
	}
}

// A device that stops answering (a GPU fallen off the bus) is logged once
// and the sidecar carries on with no GPU series until it answers again.
func TestNVMLFailureLoggedOnce(t *testing.T) {
	s := h100(t)
	src, err := newNVMLSource(s, pid)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	m := &Monitor{src: src, log: slog.New(slog.NewTextHandler(&logs, nil))}
	lost := nvml.ERROR_GPU_IS_LOST
	dev := s.Devices[3].(*server.Device)
	uuid := dev.GetUUIDFunc
	dev.GetUUIDFunc = func() (string, nvml.Return) { return "", lost }
	for range 3 {
		if rs := m.Read(); rs != nil {
			t.Fatalf("read %d GPUs with one lost", len(rs))
		}
	}
	if n := strings.Count(logs.String(), "GPU telemetry read failed"); n != 1 {
		t.Fatalf("failure logged %d times:\n%s", n, logs.String())
	}
	dev.GetUUIDFunc = uuid
	if len(m.Read()) != len(s.Devices) || !strings.Contains(logs.String(), "GPU telemetry read again") {
		t.Fatalf("no recovery:\n%s", logs.String())
	}
}

func TestNVMLInitFailureIsNoGPU(t *testing.T) {
	s := h100(t)
	s.InitFunc = func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }
	if _, err := newNVMLSource(s, pid); !errors.Is(err, ErrNoGPU) {
		t.Fatalf("err = %v, want ErrNoGPU", err)
	}
	s = h100(t)
	s.Devices = nil
	if _, err := newNVMLSource(s, pid); !errors.Is(err, ErrNoGPU) {
		t.Fatalf("no devices: err = %v, want ErrNoGPU", err)
	}
}
