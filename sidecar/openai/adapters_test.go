package openai

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/server"
	"github.com/graft-ai/graft/internal/testengine"
	"github.com/graft-ai/graft/internal/testmodels"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
	"github.com/graft-ai/graft/sidecar/adaptersource"
)

// startAdapterPod runs stories260K behind real gRPC and the sidecar over a
// Catalog of the adapters under root, as graft serve wires them.
func startAdapterPod(t *testing.T, root string) *pod {
	t.Helper()
	eng := testengine.Stories(t, engine.Config{MaxNumSeqs: 8})
	addr := "unix://" + filepath.Join(t.TempDir(), "engine.sock")
	lis, err := server.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	server.New(eng, "stories260K").Register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	cat, err := adaptersource.OpenCatalog(context.Background(), t.TempDir(), root)
	if err != nil {
		t.Fatal(err)
	}
	conn := dial(t, addr)
	hs := httptest.NewServer(New(Config{Engine: conn, Adapters: cat}))
	t.Cleanup(hs.Close)
	return &pod{url: hs.URL, engine: enginev1.NewEngineClient(conn)}
}

// brokenAdapter copies all-r8 to root/name and lets edit break it.
func brokenAdapter(t *testing.T, root, name string, edit func(dir string)) {
	t.Helper()
	src := testmodels.Path(t, "stories260K", "adapters", "all-r8")
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if edit != nil {
		edit(dir)
	}
}

// setConfig replaces one top-level value in all-r8's adapter_config.json,
// keeping the rest of the file byte for byte (NaN and 1e999 cannot be marshaled).
func setConfig(key, value string) func(string) {
	return func(dir string) {
		p := filepath.Join(dir, "adapter_config.json")
		b, _ := os.ReadFile(p)
		// A value runs to the next top-level key or the closing brace.
		re := regexp.MustCompile(`(?s)"` + key + `": .*?(,\n  "|\n})`)
		b = re.ReplaceAll(b, []byte(`"`+key+`": `+value+"$1"))
		os.WriteFile(p, b, 0o644)
	}
}

// moveFirstTensor rewrites the weights file's header so that one tensor's
// data_offsets point far past the end of the file.
func moveFirstTensor(dir string) {
	p := filepath.Join(dir, "adapter_model.safetensors")
	b, _ := os.ReadFile(p)
	n := binary.LittleEndian.Uint64(b)
	var h map[string]json.RawMessage
	json.Unmarshal(b[8:8+n], &h)
	name := "base_model.model.model.layers.0.mlp.down_proj.lora_A.weight"
	h[name] = json.RawMessage(`{"dtype":"F32","shape":[8,172],"data_offsets":[100000000,100005504]}`)
	header, _ := json.Marshal(h)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	os.WriteFile(p, append(append(out, header...), b[8+n:]...), 0o644)
}

var (
	rootedPath = regexp.MustCompile(`(^|[^:/\w.])/\w`)
	goType     = regexp.MustCompile(`\*?\b[a-z0-9]+\.[A-Z]\w*\b|Go (struct|value)|of type `)
)

// TestBrokenAdapters: every bad adapter gets an OpenAI-shaped 4xx (remote
// sources 502) naming the adapter and the problem in the adapter's terms,
// with no server path, network address or Go type; and the pod still answers
// the golden request after each.
func TestBrokenAdapters(t *testing.T) {
	closed := closedPort(t)
	t.Setenv("HF_ENDPOINT", "http://"+closed)
	t.Setenv("GRAFT_S3_ENDPOINT", "http://"+closed)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	root := t.TempDir()
	brokenAdapter(t, root, "good", nil)
	brokenAdapter(t, root, "truncated", func(dir string) {
		os.Truncate(filepath.Join(dir, "adapter_model.safetensors"), 100000)
	})
	brokenAdapter(t, root, "rank-zero", setConfig("r", "0"))
	brokenAdapter(t, root, "alpha-nan", setConfig("lora_alpha", "NaN"))
	brokenAdapter(t, root, "alpha-huge", setConfig("lora_alpha", "1e999"))
	brokenAdapter(t, root, "alpha-negative", setConfig("lora_alpha", "-16"))
	brokenAdapter(t, root, "no-weights", func(dir string) { os.Remove(filepath.Join(dir, "adapter_model.safetensors")) })
	brokenAdapter(t, root, "out-of-bounds", moveFirstTensor)
	brokenAdapter(t, root, "unknown-target", setConfig("target_modules", `["q_proj", "w_proj"]`))
	brokenAdapter(t, root, "shape-mismatch", setConfig("r", "4"))
	brokenAdapter(t, root, "team/member", nil)
	p := startAdapterPod(t, root)
	golden := goldenText(t, p, 64)

	for _, tc := range []struct {
		id, want, code string
		status         int
	}{
		{"truncated", "adapter_model.safetensors is truncated: header says 193712 bytes, file has 100000", "invalid_adapter", 400},
		{"rank-zero", "adapter_config.json: r = 0: the rank must be a whole number of at least 1", "invalid_adapter", 400},
		{"alpha-nan", "adapter_config.json: lora_alpha = NaN: must be a finite number", "invalid_adapter", 400},
		{"alpha-huge", "adapter_config.json: lora_alpha = 1e999 is out of range", "invalid_adapter", 400},
		{"alpha-negative", "adapter_config.json: lora_alpha = -16: must be a finite positive number", "invalid_adapter", 400},
		{"no-weights", "adapter_model.safetensors is missing", "invalid_adapter", 400},
		{"out-of-bounds", `data_offsets [100000000, 100005504], past the end`, "invalid_adapter", 400},
		{"unknown-target", `target_modules names "w_proj", which is not a module of the base model`, "invalid_adapter", 400},
		{"shape-mismatch", "has shape [8 172], want [4 172]: the adapter does not fit this base model", "invalid_adapter", 400},
		{"..", `not a valid adapter id: path segment ".." not allowed`, "model_not_found", 404},
		{"team", "adapter_config.json is missing", "model_not_found", 404},
		{"missing", "there is no adapter by that name", "model_not_found", 404},
		{"hf://org/all-r8", "could not reach the hf:// source: connection refused", "adapter_source_unavailable", 502},
		{"s3://adapters/all-r8", "could not reach the s3:// source: connection refused", "adapter_source_unavailable", 502},
	} {
		t.Run(strings.ReplaceAll(tc.id, "/", "_"), func(t *testing.T) {
			body := fmt.Sprintf(`{"model":%q,"prompt":"Once","max_tokens":2}`, tc.id)
			e := wantError(t, p.url+"/v1/completions", body, tc.status, paramFor(tc.status))
			msg := e.Error.Message
			t.Logf("%d %s", tc.status, msg)
			if e.Error.Code == nil || *e.Error.Code != tc.code || e.Error.Type == "" {
				t.Errorf("code %v type %q, want %s", e.Error.Code, e.Error.Type, tc.code)
			}
			if !strings.Contains(msg, "`"+tc.id+"`") || !strings.Contains(msg, tc.want) {
				t.Errorf("message %q, want one naming `%s` and %q", msg, tc.id, tc.want)
			}
			// "path:" is the engine's name for LoadAdapter's field, not the client's.
			for _, bad := range []string{root, closed, "127.0.0.1", "lookup", "dial tcp", "path:"} {
				if strings.Contains(msg, bad) {
					t.Errorf("message %q shows %q", msg, bad)
				}
			}
			if rootedPath.MatchString(msg) || goType.MatchString(msg) {
				t.Errorf("message %q shows a path or a Go type", msg)
			}
			var c completion
			ok(t, p.url+"/v1/completions", `{"model":"stories260K","prompt":[1],"max_tokens":64,"temperature":0}`, &c)
			if c.Choices[0].Text != golden {
				t.Fatalf("after %s the golden request answers %q", tc.id, c.Choices[0].Text)
			}
		})
	}
	var c completion
	ok(t, p.url+"/v1/completions", `{"model":"good","prompt":"Once","max_tokens":4}`, &c)
	checkModels(t, p, []string{"stories260K", "good"})
}

func paramFor(status int) string {
	if status == 400 {
		return "model"
	}
	return ""
}

// checkModels: /v1/models lists exactly want, so no adapter that failed to
// validate or that the engine refused is offered.
func checkModels(t *testing.T, p *pod, want []string) {
	t.Helper()
	resp, err := http.Get(p.url + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var list struct{ Data []struct{ ID string } }
	if err := json.Unmarshal(data, &list); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/v1/models: %d %s", resp.StatusCode, data)
	}
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("/v1/models lists %v, want %v", ids, want)
	}
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
