package randmodel

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// The fixed parts of a Llama SentencePiece tokenizer.json as transformers'
// LlamaConverter writes them (legacy mode): prepend ▁ and map spaces to ▁, no
// pre-tokenizer, <s> added in front, decoding back through byte fallback.
const (
	normalizerJSON = `{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]}`
	postJSON       = `{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],"pair":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"<s>","type_id":1}},{"Sequence":{"id":"B","type_id":1}}],"special_tokens":{"<s>":{"id":"<s>","ids":[1],"tokens":["<s>"]}}}`
	decoderJSON    = `{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]}`
)

type addedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type bpeModel struct {
	Type                    string       `json:"type"`
	Dropout                 *float64     `json:"dropout"`
	UnkToken                string       `json:"unk_token"`
	ContinuingSubwordPrefix *string      `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string      `json:"end_of_word_suffix"`
	FuseUnk                 bool         `json:"fuse_unk"`
	ByteFallback            bool         `json:"byte_fallback"`
	IgnoreMerges            bool         `json:"ignore_merges"`
	Vocab                   orderedVocab `json:"vocab"`
	Merges                  []string     `json:"merges"`
}

type tokenizerFile struct {
	Version       string          `json:"version"`
	Truncation    any             `json:"truncation"`
	Padding       any             `json:"padding"`
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  any             `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         bpeModel        `json:"model"`
}

// orderedVocab marshals as a JSON object in id order, as tokenizers writes it
// (encoding/json would sort a map's keys).
type orderedVocab []string

func (o orderedVocab) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, tok := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshal(tok)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(i))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func tokenizerJSON(v *Vocab) []byte {
	f := tokenizerFile{
		Version: "1.0", Normalizer: json.RawMessage(normalizerJSON),
		PostProcessor: json.RawMessage(postJSON), Decoder: json.RawMessage(decoderJSON),
		Model: bpeModel{
			Type: "BPE", UnkToken: "<unk>", FuseUnk: true, ByteFallback: true,
			Vocab: orderedVocab(v.Tokens),
		},
	}
	for id := range 3 {
		f.AddedTokens = append(f.AddedTokens, addedToken{ID: id, Content: v.Tokens[id], Special: true})
	}
	f.Model.Merges = make([]string, len(v.Merges))
	for i, m := range v.Merges {
		f.Model.Merges[i] = m[0] + " " + m[1]
	}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	e.SetIndent("", "  ")
	if err := e.Encode(f); err != nil {
		panic(err) // every value above is plain data: cannot fail
	}
	return b.Bytes()
}

func tokenizerConfig(v *Vocab, maxLen int) map[string]any {
	added := map[string]any{}
	for id := range 3 {
		added[strconv.Itoa(id)] = map[string]any{
			"content": v.Tokens[id], "single_word": false, "lstrip": false,
			"rstrip": false, "normalized": false, "special": true,
		}
	}
	return map[string]any{
		"add_bos_token": true, "add_eos_token": false, "added_tokens_decoder": added,
		"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": nil,
		"clean_up_tokenization_spaces": false, "legacy": true, "model_max_length": maxLen,
		"sp_model_kwargs": map[string]any{}, "spaces_between_special_tokens": false,
		"tokenizer_class": "LlamaTokenizer", "use_default_system_prompt": false,
	}
}
