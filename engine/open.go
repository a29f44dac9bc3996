package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/graft-ai/graft/engine/chattemplate"
	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/gguf"
	"github.com/graft-ai/graft/engine/model"
	"github.com/graft-ai/graft/engine/safetensors"
	"github.com/graft-ai/graft/engine/tokenizer"
)

// Loaded is a model with everything needed to serve it.
type Loaded struct {
	Model     *model.Model
	Tokenizer *tokenizer.Tokenizer
	// Chat is nil when the model has no chat template.
	Chat     *chattemplate.Template
	ChatVars map[string]any // bos_token, eos_token for the template
	// EOS holds every id that ends generation (config, generation_config, tokenizer).
	EOS    []int32
	closer func() error
}

// Close releases the model files' memory maps.
func (l *Loaded) Close() error {
	if l.closer == nil {
		return nil
	}
	return l.closer()
}

// Load opens a .gguf file or a Hugging Face model directory.
func Load(path string, b compute.Backend) (*Loaded, error) {
	return LoadWith(path, b, model.LoadOptions{})
}

// LoadWith is Load with options for how the weights are kept (quantized on
// load, for one).
func LoadWith(path string, b compute.Backend, o model.LoadOptions) (*Loaded, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return loadHF(path, b, o)
	}
	return loadGGUF(path, b, o)
}

func loadGGUF(path string, b compute.Backend, o model.LoadOptions) (*Loaded, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	l, err := ggufParts(f, b, o)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	l.closer = f.Close
	return l, nil
}

func ggufParts(f *gguf.File, b compute.Backend, o model.LoadOptions) (*Loaded, error) {
	m, err := model.LoadGGUFWith(f, b, o)
	if err != nil {
		return nil, err
	}
	tok, err := GGUFTokenizer(f)
	if err != nil {
		return nil, err
	}
	l := &Loaded{Model: m, Tokenizer: tok, EOS: m.Config.EOS}
	if src, ok := f.String("tokenizer.chat_template"); ok {
		if l.Chat, err = chattemplate.New(src); err != nil {
			return nil, fmt.Errorf("tokenizer.chat_template: %w", err)
		}
	}
	l.ChatVars = tokenVars(tok)
	return l, nil
}

// GGUFTokenizer builds the SentencePiece tokenizer embedded in a GGUF file.
func GGUFTokenizer(f *gguf.File) (*tokenizer.Tokenizer, error) {
	if kind, _ := f.String("tokenizer.ggml.model"); kind != "llama" {
		return nil, fmt.Errorf("gguf tokenizer model %q is not supported (want llama, SentencePiece)", kind)
	}
	v := tokenizer.SPMVocab{BOS: 1, EOS: 2, UNK: 0, AddBOS: true}
	var ok bool
	if v.Tokens, ok = f.Strings("tokenizer.ggml.tokens"); !ok {
		return nil, errors.New("gguf: tokenizer.ggml.tokens missing")
	}
	v.Scores, _ = f.Float32s("tokenizer.ggml.scores")
	v.Types, _ = f.Int32s("tokenizer.ggml.token_type")
	id := func(key string, dst *int32) {
		if x, ok := f.Uint(key); ok && x < 1<<31 {
			*dst = int32(x)
		}
	}
	id("tokenizer.ggml.bos_token_id", &v.BOS)
	id("tokenizer.ggml.eos_token_id", &v.EOS)
	id("tokenizer.ggml.unknown_token_id", &v.UNK)
	if x, ok := f.Bool("tokenizer.ggml.add_bos_token"); ok {
		v.AddBOS = x
	}
	v.AddEOS, _ = f.Bool("tokenizer.ggml.add_eos_token")
	if x, ok := f.Bool("tokenizer.ggml.add_space_prefix"); ok {
		v.NoSpacePrefix = !x
	}
	return tokenizer.FromSPM(v)
}

func loadHF(dir string, b compute.Backend, o model.LoadOptions) (*Loaded, error) {
	st, err := safetensors.OpenModel(dir)
	if err != nil {
		return nil, err
	}
	l, err := hfParts(dir, st, b, o)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	l.closer = st.Close
	return l, nil
}

func hfParts(dir string, st *safetensors.Model, b compute.Backend, o model.LoadOptions) (*Loaded, error) {
	m, err := model.LoadHFWith(dir, st, b, o)
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	l := &Loaded{Model: m, Tokenizer: tok, EOS: m.Config.EOS}
	l.EOS = appendUnique(l.EOS, generationEOS(dir)...)
	l.Chat, l.ChatVars, err = LoadChatTemplate(dir, tok)
	return l, err
}

// LoadChatTemplate reads the chat template of a tokenizer directory, if any.
func LoadChatTemplate(dir string, tok *tokenizer.Tokenizer) (*chattemplate.Template, map[string]any, error) {
	vars := tokenVars(tok)
	cfg, err := chattemplate.LoadConfig(filepath.Join(dir, "tokenizer_config.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, vars, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for k, v := range cfg.Tokens {
		vars[k] = v
	}
	t, err := cfg.Template("")
	if errors.Is(err, chattemplate.ErrNoChatTemplate) {
		return nil, vars, nil
	}
	return t, vars, err
}

func tokenVars(tok *tokenizer.Tokenizer) map[string]any {
	vars := map[string]any{}
	if id, ok := tok.BOS(); ok {
		vars["bos_token"] = tok.Token(id)
	}
	if id, ok := tok.EOS(); ok {
		vars["eos_token"] = tok.Token(id)
	}
	return vars
}

// generationEOS reads eos_token_id (an id or a list) from generation_config.json.
func generationEOS(dir string) []int32 {
	data, err := os.ReadFile(filepath.Join(dir, "generation_config.json"))
	if err != nil {
		return nil
	}
	var g struct {
		EOS json.RawMessage `json:"eos_token_id"`
	}
	if json.Unmarshal(data, &g) != nil || len(g.EOS) == 0 {
		return nil
	}
	var one int32
	if json.Unmarshal(g.EOS, &one) == nil {
		return []int32{one}
	}
	var many []int32
	_ = json.Unmarshal(g.EOS, &many)
	return many
}

func appendUnique(ids []int32, more ...int32) []int32 {
	for _, id := range more {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// IsGGUF reports whether path names a GGUF file.
func IsGGUF(path string) bool { return strings.HasSuffix(strings.ToLower(path), ".gguf") }

// Tokenizer is a model's tokenizer and chat template without its weights.
type Tokenizer struct {
	Tokenizer *tokenizer.Tokenizer
	Chat      *chattemplate.Template // nil when the model has none
	ChatVars  map[string]any
}

// LoadTokenizer reads only the tokenizer and chat template of a .gguf file or of a
// directory holding tokenizer.json (weights need not be there).
func LoadTokenizer(path string) (*Tokenizer, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		tok, err := tokenizer.LoadDir(path)
		if err != nil {
			return nil, err
		}
		chat, vars, err := LoadChatTemplate(path, tok)
		if err != nil {
			return nil, err
		}
		return &Tokenizer{Tokenizer: tok, Chat: chat, ChatVars: vars}, nil
	}
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tok, err := GGUFTokenizer(f)
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{Tokenizer: tok, ChatVars: tokenVars(tok)}
	if src, ok := f.String("tokenizer.chat_template"); ok {
		if t.Chat, err = chattemplate.New(src); err != nil {
			return nil, fmt.Errorf("tokenizer.chat_template: %w", err)
		}
	}
	return t, nil
}
