package server

import (
	"errors"
	"testing"

	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/compute/cuda"
	"github.com/graft-ai/graft/engine/model"
)

func TestOpenBackendSelection(t *testing.T) {
	b, closeFn, err := OpenBackend("cpu", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.(*cpu.Backend); !ok {
		t.Errorf("--device cpu gave %T", b)
	}
	closeFn()
	b, closeFn, err = OpenBackend("auto", 1)
	if err != nil {
		t.Fatalf("auto must fall back, got %v", err)
	}
	closeFn()
	if _, isCPU := b.(*cpu.Backend); isCPU {
		if _, _, err := OpenBackend("cuda", 1); !errors.Is(err, cuda.ErrNoDevice) {
			t.Errorf("--device cuda without a GPU: %v, want an error wrapping ErrNoDevice", err)
		}
	}
	for _, bad := range []string{"cuda:x", "cuda:-1", "tpu"} {
		var oe *OptionError
		if _, _, err := OpenBackend(bad, 1); !errors.As(err, &oe) || oe.Field != "Device" {
			t.Errorf("device %s: %v, want an *OptionError for Device", bad, err)
		}
	}
}

// TestAdapterSlotsFromMemoryOnCPU: on the CPU the fraction does not apply and
// the configured slot count decides.
func TestAdapterSlotsFromMemoryOnCPU(t *testing.T) {
	b, closeB, err := OpenBackend("cpu", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer closeB()
	c := &model.Config{Dim: 64, Layers: 2, Heads: 4, KVHeads: 4, HeadDim: 16, FFN: 128}
	if n, ok, err := adapterSlotsFromMemory(b, c, 0.1, 16); ok || err != nil || n != 0 {
		t.Fatalf("cpu: %d %v %v, want the flag ignored", n, ok, err)
	}
}

// TestSetQuantActivations: int8, float and empty are accepted on the CPU
// backend; anything else is an OptionError naming the field.
func TestSetQuantActivations(t *testing.T) {
	b, closeB, err := OpenBackend("cpu", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer closeB()
	for _, mode := range []string{"", "int8", "float"} {
		if err := SetQuantActivations(b, mode); err != nil {
			t.Errorf("mode %q: %v", mode, err)
		}
	}
	var oe *OptionError
	if err := SetQuantActivations(b, "int4"); !errors.As(err, &oe) || oe.Field != "QuantActivations" {
		t.Errorf("mode int4: %v, want an OptionError for QuantActivations", err)
	}
}
