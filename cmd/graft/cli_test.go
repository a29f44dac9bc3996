package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/graft-ai/graft/internal/testmodels"
)

// The acceptance contracts of generate, tokenize and render-chat, through the
// real binary.

type storiesGolden struct {
	Upstream struct {
		Greedy struct {
			IDs  []int32 `json:"ids"`
			Text string  `json:"text"`
		} `json:"greedy"`
	} `json:"upstream"`
	Tokenizer struct {
		Encodings []struct {
			Text string  `json:"text"`
			IDs  []int32 `json:"ids"`
		} `json:"encodings"`
	} `json:"tokenizer"`
	Reference struct {
		Runs []struct {
			Adapter   *string `json:"adapter"`
			Prompt    string  `json:"prompt"`
			PromptIDs []int32 `json:"prompt_ids"`
			Greedy    []int32 `json:"greedy_ids"`
			Text      string  `json:"text"`
		} `json:"runs"`
	} `json:"reference"`
}

func readStoriesGolden(t *testing.T) *storiesGolden {
	data, err := os.ReadFile(testmodels.Path(t, "stories260K", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g storiesGolden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return &g
}

func graftJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	r := graft(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("graft %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("graft %s printed %q: %v", strings.Join(args, " "), r.stdout, err)
	}
}

func TestGenerateContract(t *testing.T) {
	g := readStoriesGolden(t)
	root := testmodels.Path(t, "stories260K")
	for _, model := range []string{filepath.Join(root, "gguf", "stories260K.gguf"), filepath.Join(root, "hf")} {
		var out generateJSON
		graftJSON(t, &out, "generate", "--model", model, "--max-tokens", "256", "--temperature", "0", "--json")
		if !slices.Equal(out.PromptTokenIDs, []int32{1}) || !slices.Equal(out.TokenIDs, g.Upstream.Greedy.IDs) {
			t.Errorf("%s from BOS: prompt %v, ids differ from the 256 upstream greedy ids", model, out.PromptTokenIDs)
		}
		if out.Text != g.Upstream.Greedy.Text || out.FinishReason != "length" {
			t.Errorf("%s: text %q finish %q", model, out.Text, out.FinishReason)
		}
		for _, run := range g.Reference.Runs {
			args := []string{"generate", "--model", model, "--max-tokens", strconv.Itoa(len(run.Greedy)), "--json"}
			if run.Prompt != "" {
				args = append(args, "--prompt", run.Prompt)
			}
			if run.Adapter != nil {
				args = append(args, "--adapter", filepath.Join(root, "adapters", *run.Adapter))
			}
			var out generateJSON
			graftJSON(t, &out, args...)
			if !slices.Equal(out.PromptTokenIDs, run.PromptIDs) || !slices.Equal(out.TokenIDs, run.Greedy) || out.Text != run.Text {
				t.Errorf("%s %v: got %+v", model, args[4:], out)
			}
		}
	}
}

func TestTokenizeContract(t *testing.T) {
	g := readStoriesGolden(t)
	root := testmodels.Path(t, "stories260K")
	for _, model := range []string{filepath.Join(root, "gguf", "stories260K.gguf"), filepath.Join(root, "hf")} {
		for _, e := range g.Tokenizer.Encodings {
			var out struct{ IDs []int32 }
			graftJSON(t, &out, "tokenize", "--model", model, "--text", e.Text, "--json")
			if !slices.Equal(out.IDs, e.IDs) {
				t.Errorf("%s %q: %v, want %v", model, e.Text, out.IDs, e.IDs)
			}
		}
	}
	var out struct{ IDs []int32 }
	graftJSON(t, &out, "tokenize", "--model", filepath.Join(root, "hf"), "--text", "Once upon a time", "--add-special-tokens=false", "--json")
	if !slices.Equal(out.IDs, []int32{403, 407, 261, 378}) {
		t.Errorf("without special tokens: %v", out.IDs)
	}
	graftJSON(t, &out, "tokenize", "--model", testmodels.Path(t, "tokenizers", "olmo-dolma2"), "--text", "hello world", "--json")
	if !slices.Equal(out.IDs, []int32{15339, 1917}) {
		t.Errorf("olmo tokenizer-only directory: %v", out.IDs)
	}
}

func TestRenderChatContract(t *testing.T) {
	data, err := os.ReadFile(testmodels.Path(t, "tokenizers", "chat-templates", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Chat []struct {
			Name     string          `json:"name"`
			Source   string          `json:"template_source"`
			Messages json.RawMessage `json:"messages"`
			AddGen   bool            `json:"add_generation_prompt"`
			Text     *string         `json:"text"`
			Error    string          `json:"error"`
		} `json:"chat"`
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	dir := testmodels.Path(t, "tokenizers", "chat-templates")
	model := testmodels.Path(t, "tokenizers", "smollm2-135m-instruct")
	for _, c := range g.Chat {
		msgs := filepath.Join(t.TempDir(), "messages.json")
		os.WriteFile(msgs, c.Messages, 0o644)
		args := []string{"render-chat", "--model", model, "--template", filepath.Join(dir, c.Source), "--messages", msgs, "--json"}
		if c.AddGen {
			args = append(args, "--add-generation-prompt")
		}
		r := graft(t, nil, args...)
		if c.Error != "" {
			if r.code == 0 || !strings.Contains(r.stderr, c.Error) {
				t.Errorf("%s: exit %d stderr %q, want a failure saying %q", c.Name, r.code, r.stderr, c.Error)
			}
			continue
		}
		var out struct{ Text string }
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || c.Text == nil || out.Text != *c.Text {
			t.Errorf("%s: exit %d, %q, want %v", c.Name, r.code, r.stdout, c.Text)
		}
	}
}

func TestGenerateUnderJSONSchema(t *testing.T) {
	model := filepath.Join(testmodels.Path(t, "stories260K"), "gguf", "stories260K.gguf")
	schema := `{"type":"object","properties":{"hero":{"type":"string","maxLength":10},"age":{"type":"integer","minimum":1,"maximum":99}},"required":["hero","age"],"additionalProperties":false}`
	var out generateJSON
	graftJSON(t, &out, "generate", "--model", model, "--prompt", "Once upon a time", "--temperature", "0", "--json", "--json-schema", schema)
	var doc struct {
		Hero *string `json:"hero"`
		Age  *int    `json:"age"`
	}
	dec := json.NewDecoder(strings.NewReader(out.Text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil || doc.Hero == nil || len([]rune(*doc.Hero)) > 10 || doc.Age == nil || *doc.Age < 1 || *doc.Age > 99 || out.FinishReason != "stop" {
		t.Fatalf("output %q (%s): %v", out.Text, out.FinishReason, err)
	}
	r := graft(t, nil, "generate", "--model", model, "--json-schema", `{"type":"string","format":"color"}`)
	if r.code != 2 || !strings.Contains(r.stderr, `format "color"`) {
		t.Fatalf("an unsupported schema: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestReplicaTraceEnv: graft up's replicas (graft serve children) get its
// collector and its sampling ratio.
func TestReplicaTraceEnv(t *testing.T) {
	got := traceOptions{endpoint: "127.0.0.1:4317", ratio: 0.25}.replicaEnv()
	want := []string{"GRAFT_TRACE_RATIO=0.25", "OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("replica env %q, want %q", got, want)
	}
	if got := (traceOptions{ratio: 1}).replicaEnv(); len(got) != 1 || got[0] != "GRAFT_TRACE_RATIO=1" {
		t.Errorf("without a collector flag: %q", got)
	}
}

// TestGenerateKVCacheDtype: --kv-cache-dtype f16 generates on the CPU's half
// cache; an unknown type fails with a message naming it.
func TestGenerateKVCacheDtype(t *testing.T) {
	model := filepath.Join(testmodels.Path(t, "stories260K"), "gguf", "stories260K.gguf")
	var out generateJSON
	graftJSON(t, &out, "generate", "--model", model, "--max-tokens", "32", "--kv-cache-dtype", "f16", "--json")
	if len(out.TokenIDs) != 32 || out.FinishReason != "length" {
		t.Errorf("f16 KV cache: %d tokens, finish %q", len(out.TokenIDs), out.FinishReason)
	}
	r := graft(t, nil, "generate", "--model", model, "--kv-cache-dtype", "fp8")
	if r.code == 0 || !strings.Contains(r.stderr, `kv cache dtype "fp8" is not supported`) {
		t.Errorf("--kv-cache-dtype fp8: exit %d, stderr %q", r.code, r.stderr)
	}
}
