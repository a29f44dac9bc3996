package local

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/graft-ai/graft/deploy/providertest"
	"github.com/graft-ai/graft/engine/server"
)

// TestProviderContract runs the suite every provider passes on real graft
// replicas; the failing one is given a model file the engine cannot load.
func TestProviderContract(t *testing.T) {
	p, _ := newProvider(t, testDeadline)
	fail := storiesSpec(t)
	fail.BaseModel = filepath.Join(t.TempDir(), "broken.gguf")
	if err := os.WriteFile(fail.BaseModel, []byte("GGUF but not really a model file"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, loadErr := server.Start(context.Background(), server.Options{Model: fail.BaseModel})
	if loadErr == nil {
		t.Fatal("the engine loaded a broken file")
	}
	providertest.Run(t, providertest.Harness{Provider: p, Spec: storiesSpec(t), FailSpec: fail,
		Fail: func(*testing.T, string, string) string { return loadErr.Error() }, Deadline: testDeadline})
}
