package chattemplate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// DefaultName is the name transformers picks among named chat templates.
const DefaultName = "default"

// ErrNoChatTemplate means a config has no chat template; see
// FallbackTemplate.
var ErrNoChatTemplate = errors.New("chattemplate: no chat template in config")

// Config is the chat-related part of a tokenizer_config.json.
type Config struct {
	// Templates holds every chat template by name. A config whose
	// chat_template is a plain string holds it under DefaultName.
	Templates map[string]string
	// Tokens holds the special tokens that transformers passes to the
	// template: bos_token, eos_token, unk_token, pad_token, when present.
	Tokens map[string]string
}

type rawConfig struct {
	ChatTemplate json.RawMessage `json:"chat_template"`
	BOS          json.RawMessage `json:"bos_token"`
	EOS          json.RawMessage `json:"eos_token"`
	UNK          json.RawMessage `json:"unk_token"`
	PAD          json.RawMessage `json:"pad_token"`
}

type namedTemplate struct {
	Name     string `json:"name"`
	Template string `json:"template"`
}

// LoadConfig reads a tokenizer_config.json. When it has no chat_template
// and a chat_template.jinja sits beside it (where newer transformers
// versions save the template), that file is the default template.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("chattemplate: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	if len(cfg.Templates) == 0 {
		jinjaPath := filepath.Join(filepath.Dir(path), "chat_template.jinja")
		if src, err := os.ReadFile(jinjaPath); err == nil {
			cfg.Templates[DefaultName] = string(src)
		}
	}
	return cfg, nil
}

// ParseConfig parses a tokenizer_config.json-shaped object. chat_template
// may be a string or a list of {"name", "template"}; special tokens may be
// strings or {"content": ...} objects (serialized AddedTokens).
func ParseConfig(data []byte) (*Config, error) {
	var raw rawConfig
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("chattemplate: config: %w", err)
	}
	templates, err := parseTemplates(raw.ChatTemplate)
	if err != nil {
		return nil, err
	}
	cfg := &Config{Templates: templates, Tokens: map[string]string{}}
	for name, rawTok := range map[string]json.RawMessage{
		"bos_token": raw.BOS, "eos_token": raw.EOS, "unk_token": raw.UNK, "pad_token": raw.PAD,
	} {
		tok, ok, err := parseToken(rawTok)
		if err != nil {
			return nil, fmt.Errorf("chattemplate: config %s: %w", name, err)
		}
		if ok {
			cfg.Tokens[name] = tok
		}
	}
	return cfg, nil
}

func parseTemplates(raw json.RawMessage) (map[string]string, error) {
	out := map[string]string{}
	if len(raw) == 0 || string(raw) == "null" {
		return out, nil
	}
	var single string
	if err := json.Unmarshal(raw, &single); err == nil {
		out[DefaultName] = single
		return out, nil
	}
	var named []namedTemplate
	if err := json.Unmarshal(raw, &named); err != nil {
		return nil, fmt.Errorf("chattemplate: config chat_template is neither a string nor a list of {name, template}")
	}
	for i, nt := range named {
		if nt.Name == "" {
			return nil, fmt.Errorf("chattemplate: config chat_template[%d] has no name", i)
		}
		out[nt.Name] = nt.Template
	}
	return out, nil
}

func parseToken(raw json.RawMessage) (string, bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, true, nil
	}
	var added struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &added); err != nil || added.Content == nil {
		return "", false, fmt.Errorf("neither a string nor an object with string content")
	}
	return *added.Content, true, nil
}

// Names lists the named templates, sorted.
func (c *Config) Names() []string {
	names := make([]string, 0, len(c.Templates))
	for n := range c.Templates {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Template compiles the named template ("" means DefaultName) with the
// config's special tokens bound as defaults that Render's vars override.
// Like transformers, several named templates without a "default" one make
// "" an error. A config with no template gives ErrNoChatTemplate.
func (c *Config) Template(name string) (*Template, error) {
	if len(c.Templates) == 0 {
		return nil, ErrNoChatTemplate
	}
	if name == "" {
		name = DefaultName
	}
	src, ok := c.Templates[name]
	if !ok {
		return nil, fmt.Errorf("chattemplate: no chat template named %q (have %v)", name, c.Names())
	}
	t, err := New(src)
	if err != nil {
		return nil, fmt.Errorf("%w (template %q)", err, name)
	}
	t.defaults = c.Tokens
	return t, nil
}
