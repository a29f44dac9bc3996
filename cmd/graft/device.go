package main

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/compute/cuda"
)

// deviceFlagHelp documents --device for generate, engine and serve.
const deviceFlagHelp = "compute device: auto (CUDA when a GPU answers, else CPU), cpu, cuda or cuda:N"

// newBackend opens the compute backend --device names and returns it with its
// close function. auto falls back to the CPU with one log line saying why; an
// explicit cuda that cannot open is an error.
func newBackend(device string, threads int) (compute.Backend, func(), error) {
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
				return nil, nil, usageError("--device %q: the GPU ordinal must be a number like cuda:0", device)
			}
			ordinal = n
		}
		b, err := cuda.Open(ordinal)
		if err != nil {
			return nil, nil, fmt.Errorf("--device %s: %w", device, err)
		}
		logDevice(b)
		return b, b.Close, nil
	}
	return nil, nil, usageError("--device %q: want auto, cpu, cuda or cuda:N", device)
}

func logDevice(b *cuda.Backend) {
	i := b.Info()
	slog.Info("using the CUDA backend", "device", i.Name, "ordinal", i.Ordinal,
		"compute_capability", fmt.Sprintf("%d.%d", i.Major, i.Minor), "driver", i.DriverVersion, "cublas", i.CublasPath)
}
