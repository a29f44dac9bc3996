package server

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/compute/cuda"
	"github.com/graft-ai/graft/engine/model"
)

// OpenBackend opens the compute backend device names ("auto" or "", "cpu",
// "cuda", "cuda:N") and returns it with its close function. auto falls back to
// the CPU with one log line saying why; an explicit cuda that cannot open is an
// error. A device name that means nothing is an *OptionError.
func OpenBackend(device string, threads int) (compute.Backend, func(), error) {
	openCPU := func() (compute.Backend, func(), error) {
		b := cpu.New(threads)
		return b, b.Close, nil
	}
	switch {
	case device == "cpu":
		return openCPU()
	case device == "auto" || device == "":
		b, err := cuda.Open(0)
		if err != nil {
			slog.Info("using the CPU backend", "reason", err.Error())
			return openCPU()
		}
		logDevice(b)
		return b, b.Close, nil
	case device == "cuda" || strings.HasPrefix(device, "cuda:"):
		ordinal := 0
		if rest, ok := strings.CutPrefix(device, "cuda:"); ok {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 0 {
				return nil, nil, optionErrorf("Device", "device %q: the GPU ordinal must be a number like cuda:0", device)
			}
			ordinal = n
		}
		b, err := cuda.Open(ordinal)
		if err != nil {
			return nil, nil, fmt.Errorf("device %s: %w", device, err)
		}
		logDevice(b)
		return b, b.Close, nil
	}
	return nil, nil, optionErrorf("Device", "device %q: want auto, cpu, cuda or cuda:N", device)
}

// SetQuantActivations sets how the CPU backend computes quantized weight
// matrices: "int8" (or "", the default) quantizes activation rows to 8 bits
// for integer dots, as llama.cpp does; "float" keeps them float32, exact on
// the dequantized weights. Other backends ignore it. A bad value is an
// *OptionError.
func SetQuantActivations(b compute.Backend, mode string) error {
	c, ok := b.(*cpu.Backend)
	if !ok {
		if mode != "" && !slices.Contains(cpu.QuantActivationModes, mode) {
			return optionErrorf("QuantActivations", "quantized activations %q: want int8 or float", mode)
		}
		return nil
	}
	if err := c.SetQuantActivations(mode); err != nil {
		return &OptionError{Field: "QuantActivations", Err: err}
	}
	return nil
}

// SetRepack turns the CPU backend's packing of quantized weights on or
// off (cpu.Backend.SetRepack) before a model loads. Other backends have
// no packed layouts and ignore it.
func SetRepack(b compute.Backend, on bool) {
	if c, ok := b.(*cpu.Backend); ok {
		c.SetRepack(on)
	}
}

func logDevice(b *cuda.Backend) {
	i := b.Info()
	slog.Info("using the CUDA backend", "device", i.Name, "ordinal", i.Ordinal,
		"compute_capability", fmt.Sprintf("%d.%d", i.Major, i.Minor), "driver", i.DriverVersion, "cublas", i.CublasPath)
}

// adapterSlotsFromMemory sizes the adapter slots from a fraction of the GPU's
// free memory: each slot holds A and B of every projection at the largest
// accepted rank. It reports false on the CPU, where slots share host memory and
// the configured slot count decides.
func adapterSlotsFromMemory(b compute.Backend, c *model.Config, fraction float64, rank int) (int, bool, error) {
	g, ok := b.(*cuda.Backend)
	if !ok || fraction <= 0 {
		return 0, false, nil
	}
	free, _, err := g.MemInfo()
	if err != nil {
		return 0, false, fmt.Errorf("adapter memory fraction: %w", err)
	}
	shapes := make([][2]int, model.NumModules)
	for mod := range shapes {
		out, in := c.ModuleShape(mod)
		shapes[mod] = [2]int{out, in}
	}
	per := cuda.AdapterBytes(c.Layers, shapes, rank, 2) // slots hold bf16
	n := cuda.AdapterSlotCapacity(free, fraction, per)
	if n < 1 {
		return 0, false, optionErrorf("AdapterMemoryFraction", "adapter memory fraction %v of %d free bytes holds no adapter of rank %d (%d bytes each)", fraction, free, rank, per)
	}
	slog.Info("adapter slots sized from GPU memory", "slots", n, "fraction", fraction, "bytes_per_adapter", per)
	return n, true, nil
}
