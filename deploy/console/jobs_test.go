package console_test

import (
	"strings"
	"testing"

	"github.com/graft-ai/graft/deploy/control"
)

// The fine-tuning page is a shell any browser loads; its job list answers
// admin keys only (it shows every tenant's jobs). Jobs with their loss
// charts are checked end to end in cmd/graft's fine-tuning test.
func TestFineTuningPage(t *testing.T) {
	dir := t.TempDir()
	base, st := consoleOf(t, control.Config{FineTune: dir, Exe: "/bin/false"})
	putKey(t, st, "graft-admin-key", "ops", true)
	putKey(t, st, "graft-user-key", "acme", false)
	if code, _, body := get(t, "GET", base+"/console/fine-tuning", "", ""); code != 200 || !strings.Contains(body, `data-src="/console/f/jobs"`) {
		t.Fatalf("page: %d %.300s", code, body)
	}
	if code, _, body := get(t, "GET", base+"/console/f/jobs", "graft-admin-key", ""); code != 200 || !strings.Contains(body, "No fine-tuning jobs") {
		t.Fatalf("no jobs: %d %.300s", code, body)
	}
	if code, _, _ := get(t, "GET", base+"/console/f/jobs", "graft-user-key", ""); code != 401 && code != 403 {
		t.Fatalf("a tenant's key reads every tenant's jobs: %d", code)
	}

}
