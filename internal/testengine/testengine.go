// Package testengine starts a real engine on the stories260K test model for the
// tests of the parts that sit on top of it (the gRPC server, the sidecar).
package testengine

import (
	"testing"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/internal/testmodels"
)

// Stories loads stories260K (GGUF) on one CPU thread and starts an engine with
// cfg; everything is closed when the test ends. It skips the test when the
// test models are absent.
func Stories(t testing.TB, cfg engine.Config) *engine.Engine {
	t.Helper()
	path := testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf")
	b := cpu.New(1)
	t.Cleanup(b.Close)
	l, err := engine.Load(path, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	eng, err := engine.New(l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	return eng
}
