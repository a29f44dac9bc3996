package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

type fileJSON struct {
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	Model         json.RawMessage `json:"model"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
}

type bpeJSON struct {
	Type         *string          `json:"type"`
	Vocab        map[string]int32 `json:"vocab"`
	Merges       json.RawMessage  `json:"merges"`
	Dropout      *float64         `json:"dropout"`
	UnkToken     *string          `json:"unk_token"`
	Prefix       *string          `json:"continuing_subword_prefix"`
	Suffix       *string          `json:"end_of_word_suffix"`
	FuseUnk      bool             `json:"fuse_unk"`
	ByteFallback bool             `json:"byte_fallback"`
	IgnoreMerges bool             `json:"ignore_merges"`
}

// configJSON holds the fields of tokenizer_config.json / special_tokens_map.json that
// change encoding or name BOS and EOS.
type configJSON struct {
	AddBOS *bool           `json:"add_bos_token"`
	AddEOS *bool           `json:"add_eos_token"`
	BOS    json.RawMessage `json:"bos_token"`
	EOS    json.RawMessage `json:"eos_token"`
}

// LoadDir reads tokenizer.json and, when present, tokenizer_config.json,
// special_tokens_map.json and generation_config.json (for extra EOS ids) from dir.
func LoadDir(dir string) (*Tokenizer, error) {
	tok, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var extra [3][]byte
	for i, name := range []string{"tokenizer_config.json", "special_tokens_map.json", "generation_config.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		extra[i] = b
	}
	return load(tok, extra[0], extra[1], extra[2])
}

// Load builds a tokenizer from the bytes of tokenizer.json and (optionally, may be nil)
// tokenizer_config.json.
func Load(tokenizerJSON, configJSON []byte) (*Tokenizer, error) {
	return load(tokenizerJSON, configJSON, nil, nil)
}

func load(tokJSON, cfgJSON, specialMapJSON, genJSON []byte) (*Tokenizer, error) {
	t, err := loadTokenizerJSON(tokJSON)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if err := t.applyConfigs(cfgJSON, specialMapJSON, genJSON); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return t, nil
}

func loadTokenizerJSON(data []byte) (*Tokenizer, error) {
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	model, err := parseModel(f.Model)
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{model: model}
	if t.normalizer, err = parseNormalizer(f.Normalizer); err != nil {
		return nil, err
	}
	if t.preTok, err = parsePreTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	if t.decoder, err = parseDecoder(f.Decoder); err != nil {
		return nil, err
	}
	t.byteFallback = hasByteFallback(t.decoder)
	if t.post, err = parsePostProcessor(f.PostProcessor); err != nil {
		return nil, err
	}
	if err := t.buildVocab(f.AddedTokens); err != nil {
		return nil, err
	}
	return t, nil
}

func parseModel(raw json.RawMessage) (*bpe, error) {
	if isNull(raw) {
		return nil, fmt.Errorf("tokenizer.json has no model")
	}
	var v bpeJSON
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	// Old files omit the type; the Rust library then recognises BPE by its merges.
	if v.Type != nil && *v.Type != "BPE" {
		return nil, fmt.Errorf("unsupported model type %q", *v.Type)
	}
	if v.Type == nil && v.Merges == nil {
		return nil, fmt.Errorf("unsupported model: no type and no merges")
	}
	if v.Dropout != nil && *v.Dropout > 0 && *v.Dropout < 1 {
		return nil, fmt.Errorf("model BPE: dropout %g is not supported (it makes encoding random)", *v.Dropout)
	}
	merges, err := parseMerges(v.Merges)
	if err != nil {
		return nil, err
	}
	for tok, id := range v.Vocab {
		if id < 0 {
			return nil, fmt.Errorf("model BPE: token %q has negative id %d", tok, id)
		}
	}
	m, err := newBPE(v.Vocab, merges, strOr(v.Prefix))
	if err != nil {
		return nil, fmt.Errorf("model %w", err)
	}
	m.suffix = strOr(v.Suffix)
	m.fuseUnk, m.byteFallback, m.ignoreMerges = v.FuseUnk, v.ByteFallback, v.IgnoreMerges
	if v.UnkToken != nil {
		id, ok := v.Vocab[*v.UnkToken]
		if !ok {
			return nil, fmt.Errorf("model BPE: unk_token %q not in vocabulary", *v.UnkToken)
		}
		m.unkID = id
	}
	return m, nil
}

// parseMerges accepts both serialisations: "a b" strings and [a, b] pairs.
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	if bytes.Contains(raw[:min(len(raw), 64)], []byte("[[")) || firstElemIsArray(raw) {
		var pairs [][2]string
		if err := json.Unmarshal(raw, &pairs); err != nil {
			return nil, fmt.Errorf("model BPE merges: %w", err)
		}
		return pairs, nil
	}
	var lines []string
	if err := json.Unmarshal(raw, &lines); err != nil {
		return nil, fmt.Errorf("model BPE merges: %w", err)
	}
	pairs := make([][2]string, len(lines))
	for i, l := range lines {
		a, b, ok := strings.Cut(l, " ")
		if !ok || strings.Contains(b, " ") {
			return nil, fmt.Errorf("model BPE merge %d: %q is not two space-separated tokens", i, l)
		}
		pairs[i] = [2]string{a, b}
	}
	return pairs, nil
}

func firstElemIsArray(raw json.RawMessage) bool {
	s := bytes.TrimLeft(raw, " \t\r\n")
	if len(s) == 0 || s[0] != '[' {
		return false
	}
	s = bytes.TrimLeft(s[1:], " \t\r\n")
	return len(s) > 0 && s[0] == '['
}

func strOr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// maxSparseIDs bounds how far ids may exceed the number of tokens, so that a hostile file
// cannot make the id table huge.
const maxSparseIDs = 1 << 16

// buildVocab merges the model vocabulary and added tokens into the id table and builds the
// added-token matchers. An added token already in the model vocabulary keeps the model's id,
// as in the Rust library.
func (t *Tokenizer) buildVocab(added []addedToken) error {
	maxID := int32(-1)
	for _, id := range t.model.vocab {
		maxID = max(maxID, id)
	}
	for i := range added {
		a := &added[i]
		if a.Content == "" {
			continue
		}
		if id, ok := t.model.vocab[a.Content]; ok {
			a.ID = id
		}
		if a.ID < 0 {
			return fmt.Errorf("added token %q has negative id %d", a.Content, a.ID)
		}
		maxID = max(maxID, a.ID)
	}
	if int64(maxID) >= int64(len(t.model.vocab)+len(added))+maxSparseIDs {
		return fmt.Errorf("largest id %d is far beyond the %d tokens defined", maxID, len(t.model.vocab)+len(added))
	}
	n := int(maxID) + 1
	t.idToToken = make([]string, n)
	t.hasToken = make([]bool, n)
	t.special = make([]bool, n)
	t.tokenToID = make(map[string]int32, len(t.model.vocab)+len(added))
	for tok, id := range t.model.vocab {
		t.idToToken[id], t.hasToken[id] = tok, true
		t.tokenToID[tok] = id
	}
	var rawPats, normPats []string
	var rawToks, normToks []*addedToken
	for i := range added {
		a := &added[i]
		if a.Content == "" {
			continue
		}
		t.idToToken[a.ID], t.hasToken[a.ID] = a.Content, true
		t.tokenToID[a.Content] = a.ID
		if a.Special {
			t.special[a.ID] = true
		}
		if a.Normalized {
			p := a.Content
			if t.normalizer != nil {
				p = t.normalizer.normalize(p)
			}
			normPats, normToks = append(normPats, p), append(normToks, a)
		} else {
			rawPats, rawToks = append(rawPats, a.Content), append(rawToks, a)
		}
	}
	t.rawAdded = newMatcher(rawPats, rawToks)
	t.normAdded = newMatcher(normPats, normToks)
	return nil
}

// applyConfigs reads BOS/EOS and add_bos_token/add_eos_token. When the config states
// add_bos_token or add_eos_token, the post-processor is rebuilt from them as transformers'
// update_post_processor does; otherwise tokenizer.json's post-processor stands.
func (t *Tokenizer) applyConfigs(cfgJSON, specialMapJSON, genJSON []byte) error {
	var cfg, smap configJSON
	if len(cfgJSON) > 0 {
		if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
			return fmt.Errorf("tokenizer_config.json: %w", err)
		}
	}
	if len(specialMapJSON) > 0 {
		if err := json.Unmarshal(specialMapJSON, &smap); err != nil {
			return fmt.Errorf("special_tokens_map.json: %w", err)
		}
	}
	var err error
	if t.bos, t.hasBOS, err = t.resolveToken("bos_token", cfg.BOS, smap.BOS); err != nil {
		return err
	}
	if t.eos, t.hasEOS, err = t.resolveToken("eos_token", cfg.EOS, smap.EOS); err != nil {
		return err
	}
	if !t.hasBOS && t.post != nil && len(t.post.prefix) == 1 && t.IsSpecial(t.post.prefix[0]) {
		t.bos, t.hasBOS = t.post.prefix[0], true
	}
	if cfg.AddBOS != nil || cfg.AddEOS != nil {
		tp := &template{}
		if boolOr(cfg.AddBOS, false) {
			if !t.hasBOS {
				return fmt.Errorf("tokenizer_config.json: add_bos_token without a bos_token")
			}
			tp.prefix = []int32{t.bos}
		}
		if boolOr(cfg.AddEOS, false) {
			if !t.hasEOS {
				return fmt.Errorf("tokenizer_config.json: add_eos_token without an eos_token")
			}
			tp.suffix = []int32{t.eos}
		}
		t.post = tp
	}
	if t.post != nil {
		for _, id := range append(append([]int32(nil), t.post.prefix...), t.post.suffix...) {
			if !t.valid(id) {
				return fmt.Errorf("post_processor adds id %d, which is not in the vocabulary", id)
			}
		}
	}
	if t.hasEOS {
		t.eosIDs = append(t.eosIDs, t.eos)
	}
	return t.addGenerationEOS(genJSON)
}

// resolveToken reads a token given as a string or as {"content": ...}; the first config
// that names one wins.
func (t *Tokenizer) resolveToken(key string, raws ...json.RawMessage) (int32, bool, error) {
	for _, raw := range raws {
		if isNull(raw) {
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			var obj struct {
				Content string `json:"content"`
			}
			if err := json.Unmarshal(raw, &obj); err != nil {
				return 0, false, fmt.Errorf("%s: want a string or {\"content\": ...}", key)
			}
			s = obj.Content
		}
		id, ok := t.tokenToID[s]
		if !ok {
			return 0, false, fmt.Errorf("%s %q is not in the vocabulary", key, s)
		}
		return id, true, nil
	}
	return 0, false, nil
}

func (t *Tokenizer) addGenerationEOS(genJSON []byte) error {
	if len(genJSON) == 0 {
		return nil
	}
	var g struct {
		EOS json.RawMessage `json:"eos_token_id"`
	}
	if err := json.Unmarshal(genJSON, &g); err != nil {
		return fmt.Errorf("generation_config.json: %w", err)
	}
	if isNull(g.EOS) {
		return nil
	}
	var ids []int32
	var one int32
	if err := json.Unmarshal(g.EOS, &one); err == nil {
		ids = []int32{one}
	} else if err := json.Unmarshal(g.EOS, &ids); err != nil {
		return fmt.Errorf("generation_config.json eos_token_id: %w", err)
	}
	for _, id := range ids {
		if !t.valid(id) {
			return fmt.Errorf("generation_config.json eos_token_id %d not in vocabulary", id)
		}
		if !containsID(t.eosIDs, id) {
			t.eosIDs = append(t.eosIDs, id)
		}
	}
	return nil
}

func containsID(ids []int32, id int32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
