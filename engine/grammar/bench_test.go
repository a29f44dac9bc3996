package grammar

import (
	"testing"

	"github.com/graft-ai/graft/engine/tokenizer"
	"github.com/graft-ai/graft/internal/testmodels"
)

// BenchmarkMask times one step's mask over a 49k-token vocabulary (SmolLM2's
// byte-level BPE): "cold" walks the trie from a state never seen, "warm" finds
// the state's mask in the grammar's cache, "free" is a walk inside a free
// string (the costliest state: nearly every token continues it).
func BenchmarkMask(b *testing.B) {
	tok, err := tokenizer.LoadDir(testmodels.Path(b, "tokenizers", "smollm2-135m-instruct"))
	if err != nil {
		b.Fatal(err)
	}
	v := vocabOf(tok)
	schema := []byte(`{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"tags":{"type":"array","items":{"enum":["a","b"]}}},"required":["name","age","tags"]}`)
	at := func(b *testing.B, prefix string) *Matcher {
		g, err := Compile(schema)
		if err != nil {
			b.Fatal(err)
		}
		m := g.NewMatcher(v)
		m.cur = []*stack{{f: frame{n: g.doc}}}
		for i := range len(prefix) {
			if m.cur = step(m.cur, prefix[i], nil); len(m.cur) == 0 {
				b.Fatalf("prefix %q refused", prefix)
			}
		}
		return m
	}
	b.Run("cold-structure", func(b *testing.B) {
		for b.Loop() {
			m := at(b, `{"name": "x", `)
			m.Mask()
		}
	})
	b.Run("cold-free-string", func(b *testing.B) {
		for b.Loop() {
			m := at(b, `{"name": "Once upon`)
			m.Mask()
		}
	})
	b.Run("warm", func(b *testing.B) {
		m := at(b, `{"name": "Once upon`)
		m.Mask()
		for b.Loop() {
			m.mask, m.key = nil, ""
			m.Mask()
		}
	})
}

// BenchmarkNewVocab times building the tries of a 49k vocabulary, once per
// engine on its first constrained request.
func BenchmarkNewVocab(b *testing.B) {
	tok, err := tokenizer.LoadDir(testmodels.Path(b, "tokenizers", "smollm2-135m-instruct"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		vocabOf(tok)
	}
}
