package chattemplate

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ai/graft/internal/testmodels"
)

// goldenFile is the chat part of tokenizers/*/golden.json; see
// tokenizers/PROVENANCE.md for how the texts were computed.
type goldenFile struct {
	TokenizerDir string       `json:"tokenizer_dir"`
	Chat         []goldenChat `json:"chat"`
}

type goldenChat struct {
	Name                string            `json:"name"`
	TemplateSource      string            `json:"template_source"`
	TemplateVars        map[string]string `json:"template_vars"`
	Messages            []goldenMessage   `json:"messages"`
	AddGenerationPrompt bool              `json:"add_generation_prompt"`
	Text                *string           `json:"text"`
	Error               string            `json:"error"`
}

type goldenMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func TestGoldens(t *testing.T) {
	// Both named goldens must be there; others with chats are picked up too.
	testmodels.Path(t, "tokenizers", "chat-templates", "golden.json")
	root := filepath.Dir(filepath.Dir(testmodels.Path(t, "tokenizers", "smollm2-135m-instruct", "golden.json")))
	files, err := filepath.Glob(filepath.Join(root, "*", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, f := range files {
		var g goldenFile
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &g); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		dir := filepath.Join(filepath.Dir(f), g.TokenizerDir)
		for _, c := range g.Chat {
			total++
			t.Run(filepath.Base(filepath.Dir(f))+"/"+c.Name, func(t *testing.T) {
				checkGolden(t, dir, c)
			})
		}
	}
	// The smollm2 and chat-templates goldens hold three chats each.
	if total < 6 {
		t.Errorf("found %d golden chats under %s, want at least 6", total, root)
	}
}

func checkGolden(t *testing.T, dir string, c goldenChat) {
	tmpl := loadGoldenTemplate(t, dir, c.TemplateSource)
	msgs := make([]Message, len(c.Messages))
	for i, m := range c.Messages {
		msgs[i] = TextMessage(m.Role, m.Content)
	}
	vars := map[string]any{}
	for k, v := range c.TemplateVars {
		vars[k] = v
	}
	got, err := tmpl.Render(msgs, c.AddGenerationPrompt, vars)
	if c.Error != "" {
		var te *TemplateError
		if !errors.As(err, &te) {
			t.Fatalf("got %q, %v; want TemplateError %q", got, err, c.Error)
		}
		if err.Error() != c.Error {
			t.Fatalf("error %q, want %q", err.Error(), c.Error)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if c.Text == nil {
		t.Fatal("golden has neither text nor error")
	}
	if got != *c.Text {
		t.Fatalf("render mismatch\n got: %q\nwant: %q", got, *c.Text)
	}
}

// loadGoldenTemplate resolves template_source: "file#chat_template" or a
// .json file is a tokenizer_config.json-shaped config (whose special tokens
// apply), anything else is template text.
func loadGoldenTemplate(t *testing.T, dir, source string) *Template {
	t.Helper()
	file, frag, _ := strings.Cut(source, "#")
	path := filepath.Join(dir, file)
	if frag == "" && !strings.HasSuffix(file, ".json") {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		tmpl, err := New(string(src))
		if err != nil {
			t.Fatal(err)
		}
		return tmpl
	}
	if frag != "" && frag != "chat_template" {
		t.Fatalf("unsupported template_source fragment %q", frag)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := cfg.Template("")
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}
