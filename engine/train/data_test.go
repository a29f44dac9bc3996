package train

import (
	"testing"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/finetune/dataset"
)

func storiesEncoder(t *testing.T, path string) *encoder {
	l, err := engine.Load(path, hostBackend{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	enc, err := newEncoder(l, 512)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// learnedText decodes the tokens a sample is trained to produce.
func learnedText(t *testing.T, enc *encoder, s sample) string {
	var ids []int32
	for i, tg := range s.targets {
		if tg >= 0 {
			if s.tokens[i+1] != tg {
				t.Fatalf("target %d is %d, but the next token is %d", i, tg, s.tokens[i+1])
			}
			ids = append(ids, tg)
		}
	}
	text, err := enc.tok.Decode(ids, false)
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// TestCompletionOnlyLoss: only assistant turns (with their end-of-turn text)
// are learned in chat, except those with weight 0; only the completion and
// EOS in prompt/completion.
func TestCompletionOnlyLoss(t *testing.T) {
	enc := storiesEncoder(t, storiesDir(t))
	zero := 0
	chat := dataset.Example{Line: 1, Messages: []dataset.Message{
		{Role: "system", Content: "Be kind."},
		{Role: "user", Content: "Hi"},
		{Role: "assistant", Content: "Tom ran.", Weight: &zero},
		{Role: "user", Content: "More"},
		{Role: "assistant", Content: "Sue sat."},
	}}
	s, err := enc.encode(chat)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := learnedText(t, enc, s), "Sue sat.<|im_end|>\n"; got != want {
		t.Errorf("chat learns %q, want %q", got, want)
	}
	s, err = enc.encode(dataset.Example{Line: 2, Prompt: "Once upon a time", Completion: " there was a cat."})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := learnedText(t, enc, s), "there was a cat.</s>"; got != want && got != " there was a cat.</s>" {
		t.Errorf("prompt/completion learns %q, want %q", got, want)
	}
	if s.tokens[0] != 1 {
		t.Errorf("prompt/completion starts with %d, want BOS", s.tokens[0])
	}
}

// TestTruncation: examples are cut at maxLen, and one left without any
// completion token is skipped, not trained on.
func TestTruncation(t *testing.T) {
	enc := storiesEncoder(t, storiesDir(t))
	enc.maxLen = 6
	ss, dropped, err := enc.encodeAll([]dataset.Example{
		{Line: 1, Prompt: "Once upon a time there was a very long prompt", Completion: " end."},
		{Line: 2, Prompt: "Hi", Completion: " there."},
	})
	if err != nil {
		t.Fatal(err)
	}
	if dropped != 1 || len(ss) != 1 || ss[0].line != 2 || len(ss[0].tokens) > 6 {
		t.Fatalf("kept %d (dropped %d), want only line 2, at most 6 tokens", len(ss), dropped)
	}
}
