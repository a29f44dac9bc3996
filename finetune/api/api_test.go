package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/finetune/files"
	"github.com/graft-ai/graft/finetune/jobs"
	"github.com/graft-ai/graft/internal/testserver"
)

const good = `{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}
{"messages": [{"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye."}]}
`

type fixture struct {
	url    string
	files  *files.Store
	svc    *jobs.Service
	runner *jobs.Runner
}

// newFixture serves the API over a real Redis; jobs on model "stories"
// resolve to a deployment of that name.
func newFixture(t *testing.T, trainer string) *fixture {
	t.Helper()
	srv := testserver.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	st := state.New(rdb)
	dir := t.TempDir()
	fs, err := files.NewStore(st, dir+"/files")
	if err != nil {
		t.Fatal(err)
	}
	svc := &jobs.Service{State: st, Files: fs, Wake: make(chan struct{}, 1),
		Resolve: func(_ context.Context, _, model string) (jobs.Target, error) {
			if model != "stories" {
				return jobs.Target{}, &jobs.RequestError{Status: 404, Code: "model_not_found", Param: "model", Msg: "no such model"}
			}
			return jobs.Target{Deployment: "stories", BaseModel: "/nonexistent"}, nil
		}}
	r, err := jobs.NewRunner(jobs.RunnerConfig{Service: svc, Dir: dir + "/jobs", AdapterRoot: dir + "/adapters",
		Launcher: jobs.Process{Exe: trainer}, Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	Routes(mux, Config{Files: fs, Jobs: svc})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return &fixture{url: hs.URL, files: fs, svc: svc, runner: r}
}

func (f *fixture) do(t *testing.T, method, path, tenant, ctype string, body io.Reader) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, f.url+path, body)
	if tenant != "" {
		req.Header.Set(TenantHeader, tenant)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		m = map[string]any{"raw": string(b)}
	}
	return resp.StatusCode, m
}

func (f *fixture) upload(t *testing.T, tenant, purpose, content string) (int, map[string]any) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("file", "../data.jsonl")
	fw.Write([]byte(content))
	if purpose != "" {
		mw.WriteField("purpose", purpose)
	}
	mw.Close()
	return f.do(t, "POST", "/v1/files", tenant, mw.FormDataContentType(), &b)
}

func errMsg(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	return fmt.Sprint(e["message"])
}

func TestFilesAreValidatedAndKeptPerTenant(t *testing.T) {
	f := newFixture(t, "/bin/false")
	code, m := f.upload(t, "acme", "fine-tune", good+`{"messages": [{"role": "user", "content": "x"}]}`+"\nnot json\n")
	if code != 400 || !strings.Contains(errMsg(m), "line 3: ") || !strings.Contains(errMsg(m), "line 4: ") {
		t.Fatalf("malformed upload: %d %v", code, m)
	}
	if code, m := f.upload(t, "acme", "assistants", good); code != 400 || m["error"].(map[string]any)["param"] != "purpose" {
		t.Fatalf("other purpose: %d %v", code, m)
	}
	if code, m := f.upload(t, "acme", "", good); code != 400 {
		t.Fatalf("no purpose: %d %v", code, m)
	}
	if code, m := f.upload(t, "acme", files.PurposeResults, good); code != 400 {
		t.Fatalf("a client uploads a result file: %d %v", code, m)
	}
	code, m = f.upload(t, "acme", "fine-tune", good)
	id, _ := m["id"].(string)
	if code != 200 || !strings.HasPrefix(id, "file-") || m["bytes"] != float64(len(good)) || m["filename"] != "data.jsonl" ||
		m["status"] != "processed" || m["tenant"] != nil {
		t.Fatalf("upload: %d %v", code, m)
	}
	if code, m := f.do(t, "GET", "/v1/files", "acme", "", nil); code != 200 || len(m["data"].([]any)) != 1 {
		t.Fatalf("list: %d %v", code, m)
	}
	for _, tenant := range []string{"other", ""} {
		if code, _ := f.do(t, "GET", "/v1/files/"+id, tenant, "", nil); code != 404 {
			t.Fatalf("tenant %q reads acme's file: %d", tenant, code)
		}
	}
	if code, m := f.do(t, "GET", "/v1/files/"+id+"/content", "acme", "", nil); code != 200 || m["raw"] != good {
		t.Fatalf("content: %d %v", code, m)
	}
	for _, bad := range []string{"file-zz", "file-..%2F..%2Fx", "nope"} {
		if code, _ := f.do(t, "GET", "/v1/files/"+bad, "acme", "", nil); code != 404 {
			t.Fatalf("GET %s: %d", bad, code)
		}
	}
	if code, m := f.do(t, "DELETE", "/v1/files/"+id, "acme", "", nil); code != 200 || m["deleted"] != true {
		t.Fatalf("delete: %d %v", code, m)
	}
	if _, err := os.Stat(f.files.Path(id)); !os.IsNotExist(err) {
		t.Fatalf("the deleted file's bytes remain: %v", err)
	}
	if code, _ := f.do(t, "GET", "/v1/files/"+id, "acme", "", nil); code != 404 {
		t.Fatalf("deleted file still served: %d", code)
	}
}

func (f *fixture) create(t *testing.T, tenant, body string) (int, map[string]any) {
	t.Helper()
	return f.do(t, "POST", "/v1/fine_tuning/jobs", tenant, "application/json", strings.NewReader(body))
}

func TestJobRequestsAreChecked(t *testing.T) {
	f := newFixture(t, "/bin/false")
	_, m := f.upload(t, "acme", "fine-tune", good)
	file := m["id"].(string)
	for _, c := range []struct{ body, param string }{
		{`{"model": "nope", "training_file": "` + file + `"}`, "model"},
		{`{"model": "stories"}`, "training_file"},
		{`{"model": "stories", "training_file": "file-00"}`, "training_file"},
		{`{"model": "stories", "training_file": "` + file + `", "validation_file": "file-01"}`, "validation_file"},
		{`{"model": "stories", "training_file": "` + file + `", "temperature": 1}`, "temperature"},
		{`{"model": "stories", "training_file": "` + file + `", "hyperparameters": {"n_epochs": "many"}}`, "hyperparameters"},
		{`{"model": "stories", "training_file": "` + file + `", "hyperparameters": {"n_epochs": 2.5}}`, "hyperparameters.n_epochs"},
		{`{"model": "stories", "training_file": "` + file + `", "hyperparameters": {"warmup": 2}}`, "hyperparameters"},
		{`{"model": "stories", "training_file": "` + file + `", "method": {"type": "dpo"}}`, "method.type"},
		{`{"model": "stories", "training_file": "` + file + `", "target_modules": ["lm_head"]}`, "target_modules"},
		{`{"model": "stories", "training_file": "` + file + `", "suffix": "a b"}`, "suffix"},
	} {
		code, m := f.create(t, "acme", c.body)
		e, _ := m["error"].(map[string]any)
		if code/100 != 4 || e == nil || e["param"] != c.param {
			t.Errorf("%s: %d %v, want a 4xx naming %s", c.body, code, m, c.param)
		}
	}
	// A job's result file is a file, but not one to train on.
	res, err := f.files.PutResult(context.Background(), "acme", "step_metrics.csv", []byte("step,train_loss\n1,2.5\n"))
	if err != nil {
		t.Fatal(err)
	}
	code, m := f.create(t, "acme", `{"model": "stories", "training_file": "`+res.ID+`"}`)
	if e, _ := m["error"].(map[string]any); code != 400 || e["param"] != "training_file" || !strings.Contains(fmt.Sprint(e["message"]), "purpose fine-tune-results") {
		t.Errorf("training on a result file: %d %v", code, m)
	}
	if code, m := f.do(t, "GET", "/v1/files/"+res.ID, "acme", "", nil); code != 200 || m["purpose"] != files.PurposeResults || m["filename"] != "step_metrics.csv" {
		t.Errorf("the result file: %d %v", code, m)
	}
	// Another tenant's file is no file.
	if code, _ := f.create(t, "other", `{"model": "stories", "training_file": "`+file+`"}`); code != 400 {
		t.Errorf("other tenant's file: %d", code)
	}
	code, m = f.create(t, "acme", `{"model": "stories", "training_file": "`+file+`", "suffix": "My_Bot",
		"hyperparameters": {"n_epochs": "auto", "batch_size": 2},
		"method": {"type": "supervised", "supervised": {"hyperparameters": {"learning_rate_multiplier": 3, "lora_rank": 4, "target_modules": ["q_proj", "o_proj"]}}}}`)
	if code != 200 || m["status"] != "validating_files" || m["fine_tuned_model"] != nil || m["graft"] != nil {
		t.Fatalf("create: %d %v", code, m)
	}
	h := m["hyperparameters"].(map[string]any)
	if h["n_epochs"] != float64(jobs.DefaultEpochs) || h["batch_size"] != 2.0 || h["learning_rate_multiplier"] != 3.0 ||
		h["lora_rank"] != 4.0 || h["lora_alpha"] != 8.0 || fmt.Sprint(h["target_modules"]) != "[q_proj o_proj]" {
		t.Errorf("hyperparameters: %v", h)
	}
}

// wait polls the job until cond holds.
func (f *fixture) wait(t *testing.T, id string, cond func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, m := f.do(t, "GET", "/v1/fine_tuning/jobs/"+id, "acme", "", nil)
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting on job %s: %v", id, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func finished(m map[string]any) bool { return jobs.Finished(fmt.Sprint(m["status"])) }

// A file that went bad after its upload fails its job at validation with
// the line and the reason; a trainer that fails fails its job with its own
// last words; jobs list newest first with after/limit; events are OpenAI's.
func TestJobsFailWithTheirReason(t *testing.T) {
	f := newFixture(t, "/bin/false")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.runner.Run(ctx); close(done) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cancel()
			<-done
		}
	})

	_, m := f.upload(t, "acme", "fine-tune", good)
	file := m["id"].(string)
	_, m = f.create(t, "acme", `{"model": "stories", "training_file": "`+file+`"}`)
	trainerFailed := m["id"].(string)
	m = f.wait(t, trainerFailed, finished)
	e, _ := m["error"].(map[string]any)
	if m["status"] != "failed" || e["code"] != "training_failed" || m["fine_tuned_model"] != nil {
		t.Fatalf("a failing trainer: %v", m)
	}

	_, m = f.upload(t, "acme", "fine-tune", good)
	broken := m["id"].(string)
	cancel()
	<-done
	stopped = true
	if err := os.WriteFile(f.files.Path(broken), []byte(good+"{\"prompt\": 3}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, m = f.create(t, "acme", `{"model": "stories", "training_file": "`+broken+`"}`)
	invalid := m["id"].(string)
	_, m = f.create(t, "acme", `{"model": "stories", "training_file": "`+file+`"}`)
	cancelled := m["id"].(string)
	if code, m := f.do(t, "POST", "/v1/fine_tuning/jobs/"+cancelled+"/cancel", "other", "", nil); code != 404 {
		t.Fatalf("another tenant cancels: %d %v", code, m)
	}
	if code, m := f.do(t, "POST", "/v1/fine_tuning/jobs/"+cancelled+"/cancel", "acme", "", nil); code != 200 || m["status"] != "cancelled" {
		t.Fatalf("cancel: %d %v", code, m)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan struct{})
	go func() { f.runner.Run(ctx2); close(done2) }()
	t.Cleanup(func() { cancel2(); <-done2 })
	m = f.wait(t, invalid, finished)
	e, _ = m["error"].(map[string]any)
	if m["status"] != "failed" || e["code"] != "invalid_training_file" || e["param"] != "training_file" ||
		!strings.Contains(fmt.Sprint(e["message"]), "line 3: ") {
		t.Fatalf("a bad file: %v", m)
	}
	if code, m := f.do(t, "POST", "/v1/fine_tuning/jobs/"+invalid+"/cancel", "acme", "", nil); code != 400 {
		t.Fatalf("cancel a failed job: %d %v", code, m)
	}
	if _, m := f.do(t, "GET", "/v1/fine_tuning/jobs/"+cancelled, "acme", "", nil); m["status"] != "cancelled" {
		t.Fatalf("the cancelled job ran: %v", m)
	}

	_, m = f.do(t, "GET", "/v1/fine_tuning/jobs?limit=2", "acme", "", nil)
	data := m["data"].([]any)
	if len(data) != 2 || m["has_more"] != true || data[0].(map[string]any)["id"] != cancelled || data[1].(map[string]any)["id"] != invalid {
		t.Fatalf("list: %v", m)
	}
	_, m = f.do(t, "GET", "/v1/fine_tuning/jobs?limit=2&after="+invalid, "acme", "", nil)
	if data := m["data"].([]any); len(data) != 1 || data[0].(map[string]any)["id"] != trainerFailed || m["has_more"] != false {
		t.Fatalf("second page: %v", m)
	}
	if _, m := f.do(t, "GET", "/v1/fine_tuning/jobs", "other", "", nil); len(m["data"].([]any)) != 0 {
		t.Fatalf("another tenant lists acme's jobs: %v", m)
	}

	_, m = f.do(t, "GET", "/v1/fine_tuning/jobs/"+invalid+"/events?limit=1", "acme", "", nil)
	evs := m["data"].([]any)
	ev := evs[0].(map[string]any)
	if len(evs) != 1 || m["has_more"] != true || ev["object"] != "fine_tuning.job.event" || ev["level"] != "error" ||
		!strings.HasPrefix(fmt.Sprint(ev["id"]), "ftevent-") || !strings.Contains(fmt.Sprint(ev["message"]), "line 3") {
		t.Fatalf("events: %v", m)
	}
	_, m = f.do(t, "GET", "/v1/fine_tuning/jobs/"+invalid+"/events?after="+fmt.Sprint(ev["id"]), "acme", "", nil)
	if evs := m["data"].([]any); len(evs) != 1 || !strings.HasPrefix(fmt.Sprint(evs[0].(map[string]any)["message"]), "Validating") {
		t.Fatalf("older events: %v", m)
	}
	if code, _ := f.do(t, "GET", "/v1/fine_tuning/jobs/"+invalid+"/events?after=x", "acme", "", nil); code != 400 {
		t.Fatalf("bad after: %d", code)
	}
	if code, _ := f.do(t, "GET", "/v1/fine_tuning/jobs/ftjob-nope", "acme", "", nil); code != 404 {
		t.Fatalf("unknown job: %d", code)
	}
}
