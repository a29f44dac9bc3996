package tokenizer

import (
	"testing"

	"github.com/graft-ai/graft/internal/testmodels"
)

// TestMaxTokenBytesBoundsEncoding: no text encodes to fewer tokens than its
// length over MaxTokenBytes times the normalizer's largest shrink (4), the
// bound the engine uses to refuse an overlong prompt without encoding it.
// Checked on every golden text of every fixture, whatever its normalizer.
func TestMaxTokenBytesBoundsEncoding(t *testing.T) {
	check := func(t *testing.T, tok *Tokenizer, text string) {
		t.Helper()
		ids, err := tok.Encode(text, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(text) > len(ids)*tok.MaxTokenBytes()*4 {
			t.Errorf("%q: %d bytes in %d tokens of at most %d bytes", text, len(text), len(ids), tok.MaxTokenBytes())
		}
	}
	for _, name := range []string{"gpt2", "smollm2-135m-instruct", "olmo-dolma2"} {
		t.Run(name, func(t *testing.T) {
			tok := loadFixture(t, name)
			var g hfGolden
			readJSON(t, testmodels.Path(t, "tokenizers", name, "golden.json"), &g)
			for _, e := range g.Encode {
				check(t, tok, e.Text)
			}
			for _, c := range g.Chat {
				check(t, tok, c.Text)
			}
		})
	}
	var g storiesGolden
	readJSON(t, testmodels.Path(t, "stories260K", "golden.json"), &g)
	for name, tok := range storiesTokenizers(t) {
		t.Run("stories260K-"+name, func(t *testing.T) {
			if tok.MaxTokenBytes() < 2 {
				t.Fatalf("MaxTokenBytes = %d; the vocabulary has longer pieces", tok.MaxTokenBytes())
			}
			for _, e := range append(g.Tokenizer.Encodings, g.Tokenizer.Lily) {
				check(t, tok, e.Text)
			}
			check(t, tok, g.Upstream.Greedy.Text)
		})
	}
}
