package testserver

import (
	"testing"

	"github.com/graft-ai/graft/internal/jaeger"
)

// StartJaeger runs Jaeger for the test, stopped by its pid when the test
// ends, or skips the test when Jaeger is not built.
func StartJaeger(t testing.TB) *jaeger.Jaeger {
	t.Helper()
	bin, err := jaeger.Binary()
	if err != nil {
		t.Skipf("%v", err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		j, err := jaeger.Start(bin, t.TempDir())
		if err == nil {
			t.Cleanup(j.Stop)
			return j
		}
		lastErr = err
	}
	t.Fatalf("jaeger: %v", lastErr)
	return nil
}
