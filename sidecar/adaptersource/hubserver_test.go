package adaptersource

import (
	"testing"
	"time"

	"github.com/graft-ai/graft/internal/testhub"
	"github.com/graft-ai/graft/internal/testmodels"
)

// The commit a test Hub repo's "main" resolves to.
const fakeCommit = testhub.Commit

// testDeadline turns a hang into a failure; it is not a timing assertion.
const testDeadline = time.Minute

func newFakeHub(t *testing.T) *testhub.Server { return testhub.New(t) }

// addAdapter serves a stories260K adapter directory as repo.
func addAdapter(t *testing.T, h *testhub.Server, repo, adapter string) {
	t.Helper()
	h.AddDir(t, repo, testmodels.Path(t, "stories260K", "adapters", adapter), AdapterFiles...)
}
