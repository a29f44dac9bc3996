package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/graft-ai/graft/internal/testmodels"
	"github.com/graft-ai/graft/xds"
)

// needFineTuning skips unless everything the fine-tuning tests drive is here:
// the demo model, Envoy, node with the openai client, and the trainer.
func needFineTuning(t *testing.T) string {
	t.Helper()
	testmodels.Path(t, "stories260K", "hf")
	if _, err := xds.EnvoyBinary("."); err != nil {
		t.Skipf("no Envoy here (%v); make test installs it", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; the fine-tuning test drives the openai npm client")
	}
	if _, err := os.Stat(filepath.Join(sdkDir, "node_modules", "openai")); err != nil {
		t.Skip("the openai npm package is not installed: make sdk-deps")
	}
	if c, _, err := newRootCommand().Find([]string{"train"}); err != nil || c.Name() != "train" {
		t.Skip("graft train (the trainer) is not in this build")
	}
	return node
}

// TestFineTuneThroughTheFrontDoor: on `graft up`, the official openai client
// uploads stories-style chat pairs (and is refused a malformed file with the
// lines and reasons), fine-tunes stories260K through /v1/fine_tuning/jobs,
// polls to succeeded and chats with fine_tuned_model at once with the same
// key, which no other tenant may use; a second job waits queued while the
// first trains and measures the base model's held-out loss, which the
// adapter's must beat by a margin; a job cancelled mid-run publishes nothing.
func TestFineTuneThroughTheFrontDoor(t *testing.T) {
	node := needFineTuning(t)
	stateDir := t.TempDir()
	up, info, _ := startUp(t, stateDir, freeAddr(t))
	r := graft(t, []string{"GRAFT_REDIS=" + info.Redis}, "keys", "create", "--tenant", "other")
	if r.code != 0 {
		t.Fatalf("keys create: %s", r.stderr)
	}
	reportPath := filepath.Join(t.TempDir(), "report.json")
	test := exec.Command(node, "--test", "--test-timeout=1200000", "finetune.test.mjs")
	test.Dir = sdkDir
	test.Env = append(os.Environ(), "GRAFT_URL="+info.URL, "GRAFT_MODEL="+info.Deployment, "GRAFT_API_KEY="+info.APIKey,
		"GRAFT_OTHER_KEY="+strings.TrimSpace(r.stdout), "NODE_EXTRA_CA_CERTS="+info.CAFile, "GRAFT_FT_REPORT="+reportPath)
	out, err := test.CombinedOutput()
	if err != nil {
		t.Fatalf("openai SDK fine-tuning suite failed: %v\n%s\n--- graft up:\n%s", err, out, lastLines(up.logs.String(), 40))
	}
	rep, _ := os.ReadFile(reportPath)
	t.Logf("openai SDK fine-tuning suite:\n%s\nfigures: %s", lastLines(string(out), 9), rep)

	// The console's fine-tuning page lists the three jobs, the finished
	// ones with their loss curves (a polyline of one point per step).
	cc := &http.Client{Timeout: 10 * time.Second}
	req, _ := http.NewRequest("GET", info.ControlAPIURL+"/console/f/jobs", nil)
	req.Header.Set("Authorization", "Bearer "+info.APIKey)
	resp, err := cc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Count(string(page), `data-status="succeeded"`) != 2 ||
		strings.Count(string(page), `data-status="cancelled"`) != 1 || strings.Count(string(page), "<polyline") < 3 ||
		!strings.Contains(string(page), "validation loss") {
		t.Errorf("console fine-tuning page: %d\n%s", resp.StatusCode, page)
	}

	// Published: the two finished jobs' adapters, not the cancelled one's.
	tuned, _ := filepath.Glob(filepath.Join(stateDir, "finetune", "adapters", info.Deployment, "default", "*"))
	var names []string
	for _, p := range tuned {
		names = append(names, filepath.Base(p))
	}
	if len(names) != 2 || !strings.HasPrefix(names[0], "base-") || !strings.HasPrefix(names[1], "tales-") {
		t.Errorf("published adapters %v: want base-… and tales-…, nothing of the cancelled job", names)
	}
	up.stop(t)
}

// TestFineTuneResumesAfterRestart: graft up stopped (SIGTERM) or killed
// (SIGKILL: its children die with it, the job's lease lapses) while a job
// trains comes back, finds the job in Redis and resumes it from its last
// checkpoint to succeeded; the adapter then serves.
func TestFineTuneResumesAfterRestart(t *testing.T) {
	node := needFineTuning(t)
	data, err := exec.Command(node, filepath.Join(sdkDir, "stories.mjs"), "300", "1").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"stopped", "killed"} {
		t.Run(how, func(t *testing.T) { resumeAfterRestart(t, data, how == "killed") })
	}
}

func resumeAfterRestart(t *testing.T, data []byte, kill bool) {
	stateDir, listen := t.TempDir(), freeAddr(t)
	up, info, client := startUp(t, stateDir, listen)
	file := uploadFile(t, client, info, "train.jsonl", data)
	code, body := call(t, client, "POST", info.URL+"/fine_tuning/jobs", info.APIKey,
		`{"model": "stories", "training_file": "`+file+`", "suffix": "resumed", "seed": 3,
		  "hyperparameters": {"n_epochs": 2, "batch_size": 8, "learning_rate_multiplier": 50}}`)
	var job struct {
		ID, Status     string
		FineTunedModel *string `json:"fine_tuned_model"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &job) != nil {
		t.Fatalf("create job: %d %s", code, body)
	}
	// Past the first checkpoint (every 10 steps), stop everything.
	waitStep(t, client, info, job.ID, 13)
	if kill {
		up.cmd.Process.Kill()
		<-up.exited
	} else {
		up.stop(t)
	}
	restarted := time.Now()
	// The job's events lag its trainer by a poll, so the trainer may have
	// passed step 20 before it died; the step to resume from is the one its
	// last checkpoint on disk holds, and at step 13 that is at least 10.
	ckpt := lastCheckpointStep(t, stateDir, job.ID)
	if ckpt < 10 {
		t.Fatalf("the job reached step 13 but its last checkpoint is step %d", ckpt)
	}

	up2, info2, client2 := startUp(t, stateDir, listen)
	deadline := time.Now().Add(10 * time.Minute)
	for {
		code, body = call(t, client2, "GET", info2.URL+"/fine_tuning/jobs/"+job.ID, info2.APIKey, "")
		if code != 200 || json.Unmarshal([]byte(body), &job) != nil {
			t.Fatalf("get job: %d %s", code, body)
		}
		if job.Status != "running" && job.Status != "queued" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s", job.Status)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if job.Status != "succeeded" || job.FineTunedModel == nil {
		t.Fatalf("after a restart the job ended %s: %s", job.Status, body)
	}
	events := allEvents(t, client2, info2, job.ID)
	if want := fmt.Sprintf("resumed from the checkpoint of step %d", ckpt); !strings.Contains(events, "resumed from its last checkpoint") || !strings.Contains(events, want) {
		t.Errorf("the job's events do not show a resume from the step-%d checkpoint:\n%s", ckpt, events)
	}
	chat := `{"model": "` + *job.FineTunedModel + `", "messages": [{"role": "user", "content": "Tell me a story about a cat."}], "max_tokens": 20}`
	if code, out := call(t, client2, "POST", info2.URL+"/chat/completions", info2.APIKey, chat); code != 200 {
		t.Fatalf("chat with the resumed job's adapter: %d %s", code, out)
	}
	t.Logf("%s at step 13 or later, resumed from step %d: succeeded %.1fs after the restart began", map[bool]string{true: "killed", false: "stopped"}[kill],
		ckpt, time.Since(restarted).Seconds())
	up2.stop(t)
}

func uploadFile(t *testing.T, c *http.Client, info upInfo, name string, data []byte) string {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("purpose", "fine-tune")
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	mw.Close()
	req, _ := http.NewRequest("POST", info.URL+"/files", &b)
	req.Header.Set("Authorization", "Bearer "+info.APIKey)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var f struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil || resp.StatusCode != 200 || f.ID == "" {
		t.Fatalf("upload: %d %v", resp.StatusCode, err)
	}
	return f.ID
}

// allEvents is the messages of every event of job id, newest first, a line
// each, read page by page: a resumed run's steps can push its first events
// past one page of 100.
func allEvents(t *testing.T, c *http.Client, info upInfo, id string) string {
	t.Helper()
	var msgs []string
	for after := ""; ; {
		code, body := call(t, c, "GET", info.URL+"/fine_tuning/jobs/"+id+"/events?limit=100&after="+after, info.APIKey, "")
		var page struct {
			Data    []struct{ ID, Message string }
			HasMore bool `json:"has_more"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &page) != nil {
			t.Fatalf("events of job %s: %d %s", id, code, body)
		}
		for _, e := range page.Data {
			msgs = append(msgs, e.Message)
		}
		if !page.HasMore || len(page.Data) == 0 {
			return strings.Join(msgs, "\n")
		}
		after = page.Data[len(page.Data)-1].ID
	}
}

// lastCheckpointStep reads the step of the newest complete checkpoint the
// job's trainer left under stateDir.
func lastCheckpointStep(t *testing.T, stateDir, id string) int {
	t.Helper()
	list, _ := filepath.Glob(filepath.Join(stateDir, "finetune", "jobs", id, "checkpoint", "checkpoint-*", "state.json"))
	if len(list) == 0 {
		t.Fatalf("no checkpoint of job %s under %s", id, stateDir)
	}
	sort.Strings(list)
	js, err := os.ReadFile(list[len(list)-1])
	var st struct{ Step int }
	if err != nil || json.Unmarshal(js, &st) != nil {
		t.Fatalf("checkpoint %s: %v %s", list[len(list)-1], err, js)
	}
	return st.Step
}

// waitStep waits until the job's events show step n done.
func waitStep(t *testing.T, c *http.Client, info upInfo, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		_, body := call(t, c, "GET", info.URL+"/fine_tuning/jobs/"+id+"/events?limit=1", info.APIKey, "")
		var evs struct {
			Data []struct {
				Data *struct{ Step int } `json:"data"`
			}
		}
		json.Unmarshal([]byte(body), &evs)
		if len(evs.Data) > 0 && evs.Data[0].Data != nil && evs.Data[0].Data.Step >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s never reached step %d: %s", id, n, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
