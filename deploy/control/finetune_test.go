package control

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/graft-ai/graft/deploy"
)

// With a fine-tuning folder the control process serves /v1/files and
// /v1/fine_tuning/jobs beside the management API; a job's model is a
// deployment the tenant may use, named or by its base model.
func TestControlServesFineTuning(t *testing.T) {
	dir := t.TempDir()
	r := startRedis(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctl, err := Start(ctx, Config{Redis: r.URL, Listen: "127.0.0.1:0", FineTune: t.TempDir(), Exe: "/bin/false"})
	if err != nil {
		t.Fatal(err)
	}
	spec, err := deploy.DecodeSpec([]byte(`{"base_model": "` + dir + `", "min_replicas": 0}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Manager.Create(ctx, "shared", spec); err != nil {
		t.Fatal(err)
	}
	if _, err := ctl.Manager.CreateFor(ctx, "acme", "private", spec); err != nil {
		t.Fatal(err)
	}
	base := "http://" + ctl.Addr()

	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("file", "d.jsonl")
	fw.Write([]byte(`{"prompt": "a", "completion": "b"}` + "\n"))
	mw.WriteField("purpose", "fine-tune")
	mw.Close()
	req, _ := http.NewRequest("POST", base+"/v1/files", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("X-Graft-Tenant", "other")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&f)
	resp.Body.Close()
	if resp.StatusCode != 200 || f.ID == "" {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	for model, want := range map[string]int{"shared": 200, dir: 200, "private": 404, "nope": 404, "a/b": 404} {
		body := `{"model": "` + model + `", "training_file": "` + f.ID + `"}`
		req, _ := http.NewRequest("POST", base+"/v1/fine_tuning/jobs", strings.NewReader(body))
		req.Header.Set("X-Graft-Tenant", "other")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("model %q: %d %v, want %d", model, resp.StatusCode, got, want)
		}
	}
	// The management API is still there.
	if resp, err := http.Get(base + "/v1/deployments/shared"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("management API: %v %v", resp, err)
	}
}
