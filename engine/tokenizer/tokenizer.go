// Package tokenizer re-implements Hugging Face tokenizers (the Rust library's semantics)
// for BPE tokenizer.json files, and llama.cpp's SentencePiece tokenizer for GGUF vocabularies,
// so that Graft produces exactly the token ids the reference stacks produce.
package tokenizer

import (
	"fmt"
)

// Tokenizer encodes text to ids and back. It is safe for concurrent use.
type Tokenizer struct {
	model      *bpe
	spm        *spm
	normalizer normalizer
	preTok     preTokenizer
	post       *template
	decoder    decoder
	// byteFallback is set when the decoder contains ByteFallback (see StreamDecoder).
	byteFallback bool

	rawAdded  *matcher // added tokens matched before normalization
	normAdded *matcher // added tokens matched after normalization

	idToToken []string
	hasToken  []bool
	tokenToID map[string]int32
	special   []bool

	bos, eos       int32
	hasBOS, hasEOS bool
	eosIDs         []int32
}

// Encode turns text into ids. With addSpecialTokens the post-processor's tokens (BOS, ...)
// are added. Special tokens written in the text are always recognised, as in the Rust
// library. Invalid UTF-8 is first replaced by U+FFFD, as Rust strings cannot hold it.
func (t *Tokenizer) Encode(text string, addSpecialTokens bool) ([]int32, error) {
	text = lossyUTF8([]byte(text))
	if t.spm != nil {
		return t.spm.encode(text, addSpecialTokens)
	}
	var ids []int32
	for _, seg := range t.rawAdded.split(text, true, nil) {
		if seg.id >= 0 {
			ids = append(ids, seg.id)
			continue
		}
		norm := seg.text
		if t.normalizer != nil {
			norm = t.normalizer.normalize(norm)
		}
		for _, s2 := range t.normAdded.split(norm, seg.atStart, nil) {
			if s2.id >= 0 {
				ids = append(ids, s2.id)
				continue
			}
			ids = t.encodeText(s2, ids)
		}
	}
	return t.post.apply(ids, addSpecialTokens), nil
}

func (t *Tokenizer) encodeText(seg segment, ids []int32) []int32 {
	pieces := []piece{{text: seg.text, atStart: seg.atStart}}
	if t.preTok != nil {
		pieces = runPreTokenizer(t.preTok, pieces)
	}
	for _, p := range pieces {
		ids = t.model.tokenize(p.text, ids)
	}
	return ids
}

// Decode turns ids back into text. With skipSpecialTokens, special tokens are left out.
// Unlike the Rust library, which drops unknown ids silently, an id outside the vocabulary
// is an error: it can only come from a bug upstream.
func (t *Tokenizer) Decode(ids []int32, skipSpecialTokens bool) (string, error) {
	tokens := make([]string, 0, len(ids))
	for _, id := range ids {
		if !t.valid(id) {
			return "", fmt.Errorf("tokenizer: id %d not in vocabulary", id)
		}
		if skipSpecialTokens && t.special[id] {
			continue
		}
		tokens = append(tokens, t.idToToken[id])
	}
	return t.decodeTokens(tokens), nil
}

func (t *Tokenizer) decodeTokens(tokens []string) string {
	if t.decoder == nil {
		return joinSpace(tokens)
	}
	out := ""
	for _, s := range t.decoder.decodeChain(tokens) {
		out += s
	}
	return out
}

func joinSpace(tokens []string) string {
	out := ""
	for i, s := range tokens {
		if i > 0 {
			out += " "
		}
		out += s
	}
	return out
}

func (t *Tokenizer) valid(id int32) bool {
	return id >= 0 && int(id) < len(t.idToToken) && t.hasToken[id]
}

// BOS returns the beginning-of-sequence id, if the tokenizer names one.
func (t *Tokenizer) BOS() (int32, bool) { return t.bos, t.hasBOS }

// EOS returns the end-of-sequence id, if the tokenizer names one.
func (t *Tokenizer) EOS() (int32, bool) { return t.eos, t.hasEOS }

// EOSIDs returns every id that ends generation: the EOS token plus any listed by
// generation_config.json.
func (t *Tokenizer) EOSIDs() []int32 { return append([]int32(nil), t.eosIDs...) }

// VocabSize is one more than the largest id, added tokens included: the number of
// embedding rows the model needs.
func (t *Tokenizer) VocabSize() int { return len(t.idToToken) }

// Token returns the vocabulary string of id, or "" when id is unknown.
func (t *Tokenizer) Token(id int32) string {
	if !t.valid(id) {
		return ""
	}
	return t.idToToken[id]
}

// TokenID returns the id of a vocabulary string (added tokens first).
func (t *Tokenizer) TokenID(tok string) (int32, bool) {
	id, ok := t.tokenToID[tok]
	return id, ok
}

// IsSpecial reports whether id is a special token (skipped by Decode with skipSpecialTokens).
func (t *Tokenizer) IsSpecial(id int32) bool { return t.valid(id) && t.special[id] }

// AddsBOS reports whether Encode with addSpecialTokens puts the BOS token first.
func (t *Tokenizer) AddsBOS() bool {
	if t.spm != nil {
		return t.spm.addBOS
	}
	return t.hasBOS && t.post != nil && len(t.post.prefix) > 0 && t.post.prefix[0] == t.bos
}

// MaxTokenBytes is the length in bytes of the longest vocabulary entry. A text
// of n bytes encodes to at least about n/MaxTokenBytes tokens, which lets a
// caller refuse a prompt far over the context before paying for its encoding.
func (t *Tokenizer) MaxTokenBytes() int {
	longest := 1
	for i, s := range t.idToToken {
		if t.hasToken[i] && !t.special[i] {
			longest = max(longest, len(s))
		}
	}
	return longest
}

// TokenBytes returns the bytes id adds to decoded text in the middle of an
// output (a SentencePiece token's leading space kept, a byte token's byte
// alone), or nil for special and unknown ids. Constrained decoding reads the
// vocabulary this way.
func (t *Tokenizer) TokenBytes(id int32) []byte {
	if !t.valid(id) || t.special[id] {
		return nil
	}
	s := t.idToToken[id]
	if t.byteFallback {
		if b, ok := parseByteToken(s); ok {
			return []byte{b}
		}
	}
	switch {
	case hasByteLevel(t.decoder):
		return appendByteLevelDecoded(nil, s)
	case t.decoder == nil:
		return []byte(s)
	}
	// An anchor before the token keeps first-token rules (a stripped
	// leading space) from applying to it.
	out := ""
	for _, part := range t.decoder.decodeChain([]string{"x", s}) {
		out += part
	}
	return []byte(out[1:])
}

func hasByteLevel(d decoder) bool {
	switch x := d.(type) {
	case decByteLevel:
		return true
	case decSequence:
		for _, y := range x {
			if hasByteLevel(y) {
				return true
			}
		}
	}
	return false
}
