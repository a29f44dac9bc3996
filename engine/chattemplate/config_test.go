package chattemplate

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestParseConfigForms(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{
		"chat_template": [{"name": "default", "template": "{{ bos_token }}D"}, {"name": "tool_use", "template": "T{{ eos_token }}"}],
		"bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false},
		"eos_token": "</s>", "pad_token": null}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Names(); len(got) != 2 || got[0] != "default" || got[1] != "tool_use" {
		t.Fatalf("names = %v", got)
	}
	if _, ok := cfg.Tokens["pad_token"]; ok {
		t.Error("null pad_token should be absent")
	}
	for name, want := range map[string]string{"": "<s>D", "tool_use": "T</s>"} {
		tmpl, err := cfg.Template(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tmpl.Render(nil, false, nil)
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", name, got, err, want)
		}
	}
	// vars override the config's tokens.
	tmpl, _ := cfg.Template("")
	if got, _ := tmpl.Render(nil, false, map[string]any{"bos_token": "B"}); got != "BD" {
		t.Errorf("override: got %q", got)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, src := range []string{
		`not json`,
		`{"chat_template": 5}`,
		`{"chat_template": [{"template": "x"}]}`,
		`{"bos_token": 3}`,
	} {
		if _, err := ParseConfig([]byte(src)); err == nil {
			t.Errorf("ParseConfig(%s) succeeded", src)
		}
	}
	cfg, err := ParseConfig([]byte(`{"chat_template": [{"name": "a", "template": "x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Template(""); err == nil {
		t.Error("several templates without default: want an error")
	}
	cfg, _ = ParseConfig([]byte(`{}`))
	if _, err := cfg.Template(""); !errors.Is(err, ErrNoChatTemplate) {
		t.Errorf("err = %v, want ErrNoChatTemplate", err)
	}
}

func TestLoadConfigJinjaSidecar(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokenizer_config.json")
	if err := os.WriteFile(path, []byte(`{"eos_token": "E"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "chat_template.jinja"), []byte("{{ eos_token }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := cfg.Template("")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tmpl.Render(nil, false, nil); err != nil || got != "E" {
		t.Errorf("got %q, %v", got, err)
	}
}
