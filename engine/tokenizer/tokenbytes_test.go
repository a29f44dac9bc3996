package tokenizer

import (
	"bytes"
	"testing"

	"github.com/graft-ai/graft/internal/testmodels"
)

// The bytes TokenBytes gives each token, concatenated, are the decoded text:
// constrained decoding reads the vocabulary this way and must see what the
// client will.
func TestTokenBytesConcatenateToDecode(t *testing.T) {
	for _, dir := range [][]string{
		{"stories260K", "hf"},
		{"tokenizers", "gpt2"},
		{"tokenizers", "smollm2-135m-instruct"},
	} {
		tok, err := LoadDir(testmodels.Path(t, dir...))
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range []string{`{"name": "Tom", "age": 3}`, "Once upon a time é 😀 \\n\t[1, 2]"} {
			ids, err := tok.Encode(text, false)
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			for _, id := range ids {
				got = append(got, tok.TokenBytes(id)...)
			}
			want, _ := tok.Decode(ids, false)
			// A SentencePiece decode drops the space it prepended to the text.
			if !bytes.Equal(got, []byte(want)) && !bytes.Equal(got, []byte(" "+want)) {
				t.Errorf("%v: %q: token bytes %q, decode %q", dir, text, got, want)
			}
		}
	}
}
