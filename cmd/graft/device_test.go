package main

import (
	"errors"
	"testing"

	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/compute/cuda"
)

func TestNewBackendSelection(t *testing.T) {
	b, closeFn, err := newBackend("cpu", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.(*cpu.Backend); !ok {
		t.Errorf("--device cpu gave %T", b)
	}
	closeFn()
	b, closeFn, err = newBackend("auto", 1)
	if err != nil {
		t.Fatalf("auto must fall back, got %v", err)
	}
	closeFn()
	if _, isCPU := b.(*cpu.Backend); isCPU {
		if _, _, err := newBackend("cuda", 1); !errors.Is(err, cuda.ErrNoDevice) {
			t.Errorf("--device cuda without a GPU: %v, want an error wrapping ErrNoDevice", err)
		}
	}
	for _, bad := range []string{"cuda:x", "cuda:-1", "tpu"} {
		if _, _, err := newBackend(bad, 1); err == nil {
			t.Errorf("--device %s accepted", bad)
		}
	}
}
