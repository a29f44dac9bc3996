//go:build cgo

package gpu

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// nvmlSource reads devices through an nvml.Interface: the real library,
// which go-nvml loads with dlopen at Init, or go-nvml's mock in tests.
type nvmlSource struct {
	lib  nvml.Interface
	devs []nvml.Device
	pid  uint32
}

func openNVML(pid int) (source, error) {
	return newNVMLSource(nvml.New(), pid)
}

func newNVMLSource(lib nvml.Interface, pid int) (src source, err error) {
	// go-nvml panics when the library cannot be loaded on some paths; the
	// sidecar must carry on without a GPU either way.
	defer func() {
		if p := recover(); p != nil {
			src, err = nil, fmt.Errorf("%w: NVML: %v", ErrNoGPU, p)
		}
	}()
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("%w: NVML init: %v", ErrNoGPU, nvml.ErrorString(ret))
	}
	n, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS || n == 0 {
		lib.Shutdown()
		return nil, fmt.Errorf("%w: NVML sees no device (%v)", ErrNoGPU, nvml.ErrorString(ret))
	}
	s := &nvmlSource{lib: lib, pid: uint32(pid)}
	for i := range n {
		d, ret := lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			lib.Shutdown()
			return nil, fmt.Errorf("gpu: device %d: %v", i, nvml.ErrorString(ret))
		}
		s.devs = append(s.devs, d)
	}
	return s, nil
}

func (s *nvmlSource) read() ([]Reading, error) {
	out := make([]Reading, 0, len(s.devs))
	for i, d := range s.devs {
		r := Reading{Index: i, UtilPercent: -1, MemUsedBytes: -1, MemTotalBytes: -1, TempCelsius: -1, PowerWatts: -1, ProcessMemBytes: -1}
		var ret nvml.Return
		if r.UUID, ret = d.GetUUID(); ret != nvml.SUCCESS {
			return nil, fmt.Errorf("gpu %d: UUID: %v", i, nvml.ErrorString(ret))
		}
		r.Name, _ = d.GetName()
		if u, ret := d.GetUtilizationRates(); ret == nvml.SUCCESS {
			r.UtilPercent = float64(u.Gpu)
		}
		if m, ret := d.GetMemoryInfo(); ret == nvml.SUCCESS {
			r.MemUsedBytes, r.MemTotalBytes = int64(m.Used), int64(m.Total)
		}
		if t, ret := d.GetTemperature(nvml.TEMPERATURE_GPU); ret == nvml.SUCCESS {
			r.TempCelsius = float64(t)
		}
		if p, ret := d.GetPowerUsage(); ret == nvml.SUCCESS {
			r.PowerWatts = float64(p) / 1000 // NVML reports milliwatts
		}
		if ps, ret := d.GetComputeRunningProcesses(); ret == nvml.SUCCESS {
			r.ProcessMemBytes = 0
			for _, p := range ps {
				if p.Pid == s.pid {
					r.ProcessMemBytes += int64(p.UsedGpuMemory)
				}
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func (s *nvmlSource) close() { s.lib.Shutdown() }
