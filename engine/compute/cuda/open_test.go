package cuda

import (
	"errors"
	"strings"
	"testing"
)

// TestOpenWithoutDevice: on a machine with no driver or GPU, Open is an error
// that says why and wraps ErrNoDevice, never a crash.
func TestOpenWithoutDevice(t *testing.T) {
	b, err := Open(0)
	if err == nil {
		b.Close()
		t.Skip("a CUDA device is present; this checks the error path")
	}
	if !errors.Is(err, ErrNoDevice) {
		t.Fatalf("Open error %q does not wrap ErrNoDevice", err)
	}
	if !strings.Contains(err.Error(), "no CUDA device: ") {
		t.Errorf("Open error %q does not say there is no CUDA device", err)
	}
	t.Logf("Open(0): %v", err)
}

func TestOpenBadOrdinal(t *testing.T) {
	if _, err := Open(-1); err == nil {
		t.Fatal("Open(-1) succeeded")
	}
}

func TestCString(t *testing.T) {
	b, pin := cBytes("cuLaunchKernel")
	defer pin.Unpin()
	if got := cString(&b[0]); got != "cuLaunchKernel" {
		t.Errorf("cString = %q", got)
	}
	if cString(nil) != "" {
		t.Error("cString(nil) is not empty")
	}
}
