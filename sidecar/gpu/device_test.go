//go:build cgo

package gpu

import (
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestDeviceNVML reads the real GPUs (make device-test sets GRAFT_NVML=1)
// and checks each against nvidia-smi's view of the same device.
func TestDeviceNVML(t *testing.T) {
	if os.Getenv("GRAFT_NVML") != "1" {
		t.Skip("set GRAFT_NVML=1 on a machine with an NVIDIA GPU (make device-test does)")
	}
	m := Open(slog.Default())
	defer m.Close()
	rs := m.Read()
	if len(rs) == 0 {
		t.Fatal("NVML read no GPU on a GPU machine")
	}
	out, err := exec.Command("nvidia-smi", "--query-gpu=uuid,memory.total", "--format=csv,noheader,nounits").Output()
	if err != nil {
		t.Fatalf("nvidia-smi: %v", err)
	}
	smi := map[string]int64{} // uuid → MiB
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, ", ")
		mib, _ := strconv.ParseInt(strings.TrimSpace(f[1]), 10, 64)
		smi[strings.TrimSpace(f[0])] = mib
	}
	for _, r := range rs {
		t.Logf("GPU %d %s %s: util %.0f%%, memory %d/%d MiB, %.0f C, %.1f W, this process %d bytes",
			r.Index, r.Name, r.UUID, r.UtilPercent, r.MemUsedBytes>>20, r.MemTotalBytes>>20, r.TempCelsius, r.PowerWatts, r.ProcessMemBytes)
		if want, ok := smi[r.UUID]; !ok || r.MemTotalBytes>>20 != want {
			t.Errorf("GPU %s: NVML total %d MiB, nvidia-smi %d MiB (listed %v)", r.UUID, r.MemTotalBytes>>20, want, ok)
		}
		if r.UtilPercent < 0 || r.UtilPercent > 100 || r.MemUsedBytes < 0 || r.MemUsedBytes > r.MemTotalBytes ||
			r.TempCelsius <= 0 || r.PowerWatts <= 0 {
			t.Errorf("GPU %d: implausible reading %+v", r.Index, r)
		}
	}
}
