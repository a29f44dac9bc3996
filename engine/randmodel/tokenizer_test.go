package randmodel

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/graft-ai/graft/engine/gguf"
	"github.com/graft-ai/graft/engine/tokenizer"
)

var english = []string{
	"Once upon a time, there was a little girl named Lily.",
	"She liked to play with her friend in the big park!",
	"The quick brown fox jumps over 13 lazy dogs; \"why?\" said Tom (again).",
	"héllo wörld — bytes fall back",
}

// TestTokenizerEncodesEnglish loads the written tokenizer.json with Graft's
// tokenizer and the GGUF vocabulary as llama.cpp's SPM tokenizer: both must
// give the same ids, start with <s>, use merged pieces for common words, and
// decode back to the text.
func TestTokenizerEncodesEnglish(t *testing.T) {
	for _, n := range []int{minVocab, 320, 4000} {
		s := small(Llama)
		s.Vocab = n
		dir := t.TempDir()
		if err := WriteHF(dir, s, "F32", 1); err != nil {
			t.Fatal(err)
		}
		hf, err := tokenizer.LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if hf.VocabSize() != n {
			t.Fatalf("vocab %d: tokenizer has %d tokens", n, hf.VocabSize())
		}
		p := filepath.Join(dir, "m.gguf")
		if err := WriteGGUF(p, s, "F32"); err != nil {
			t.Fatal(err)
		}
		spm := spmFromGGUF(t, p)
		for _, text := range english {
			a, err := hf.Encode(text, true)
			if err != nil {
				t.Fatal(err)
			}
			b, err := spm.Encode(text, true)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(a, b) {
				t.Errorf("vocab %d %q:\n hf  %v\n spm %v", n, text, a, b)
			}
			if a[0] != BOS || slices.Contains(a, UNK) || slices.Max(a) >= int32(n) {
				t.Errorf("vocab %d %q: ids %v", n, text, a)
			}
			back, err := hf.Decode(a, true)
			if err != nil || back != text {
				t.Errorf("vocab %d: decode gives %q, %v; want %q", n, back, err, text)
			}
		}
		if n == minVocab {
			continue // no room for merges: every letter is its own token
		}
		if id, ok := hf.TokenID("▁the"); !ok || id < 259 {
			t.Errorf("vocab %d: ▁the is not a merged piece (%d, %v)", n, id, ok)
		}
		if ids, _ := hf.Encode("the", false); len(ids) != 1 {
			t.Errorf("vocab %d: \"the\" is %d tokens", n, len(ids))
		}
	}
}

func spmFromGGUF(t *testing.T, path string) *tokenizer.Tokenizer {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v := tokenizer.SPMVocab{BOS: BOS, EOS: EOS, UNK: UNK, AddBOS: true}
	v.Tokens, _ = f.Strings("tokenizer.ggml.tokens")
	v.Scores, _ = f.Float32s("tokenizer.ggml.scores")
	v.Types, _ = f.Int32s("tokenizer.ggml.token_type")
	tok, err := tokenizer.FromSPM(v)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
