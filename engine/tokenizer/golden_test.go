package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graft-ai/graft/internal/testmodels"
)

type hfGolden struct {
	Encode []struct {
		Text             string  `json:"text"`
		AddSpecialTokens bool    `json:"add_special_tokens"`
		IDs              []int32 `json:"ids"`
		Decoded          string  `json:"decoded"`
	} `json:"encode"`
	Chat []struct {
		Name string  `json:"name"`
		Text string  `json:"text"`
		IDs  []int32 `json:"ids"`
	} `json:"chat"`
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func loadFixture(t testing.TB, name string) *Tokenizer {
	t.Helper()
	dir := filepath.Dir(testmodels.Path(t, "tokenizers", name, "tokenizer.json"))
	tok, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// streamAll decodes ids one at a time and returns the concatenated deltas.
func streamAll(t testing.TB, tok *Tokenizer, ids []int32, skip bool) string {
	t.Helper()
	d := tok.NewStreamDecoder(skip)
	var sb strings.Builder
	for _, id := range ids {
		s, err := d.Push(id)
		if err != nil {
			t.Fatalf("Push(%d): %v", id, err)
		}
		sb.WriteString(s)
	}
	s, err := d.Flush()
	if err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return sb.String() + s
}

func TestHFGoldens(t *testing.T) {
	for _, name := range []string{"gpt2", "smollm2-135m-instruct", "olmo-dolma2"} {
		t.Run(name, func(t *testing.T) {
			tok := loadFixture(t, name)
			var g hfGolden
			readJSON(t, testmodels.Path(t, "tokenizers", name, "golden.json"), &g)
			if len(g.Encode) == 0 {
				t.Fatal("golden has no encode entries")
			}
			for _, e := range g.Encode {
				ids, err := tok.Encode(e.Text, e.AddSpecialTokens)
				if err != nil {
					t.Fatalf("Encode(%q): %v", e.Text, err)
				}
				if !slices.Equal(ids, e.IDs) {
					t.Errorf("Encode(%q, %v) = %v, want %v", e.Text, e.AddSpecialTokens, ids, e.IDs)
				}
				got, err := tok.Decode(e.IDs, false)
				if err != nil || got != e.Decoded {
					t.Errorf("Decode(%v) = %q, %v; want %q", e.IDs, got, err, e.Decoded)
				}
				if s := streamAll(t, tok, e.IDs, false); s != e.Decoded {
					t.Errorf("stream decode of %v = %q, want %q", e.IDs, s, e.Decoded)
				}
			}
			for _, c := range g.Chat {
				if c.IDs == nil {
					continue
				}
				ids, err := tok.Encode(c.Text, false)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(ids, c.IDs) {
					t.Errorf("chat %s: Encode = %v, want %v", c.Name, ids, c.IDs)
				}
			}
		})
	}
}

func TestSpecialTokenConfig(t *testing.T) {
	smol := loadFixture(t, "smollm2-135m-instruct")
	if bos, ok := smol.BOS(); !ok || smol.Token(bos) != "<|im_start|>" {
		t.Errorf("smollm2 BOS = %d %v", bos, ok)
	}
	if eos, ok := smol.EOS(); !ok || smol.Token(eos) != "<|im_end|>" {
		t.Errorf("smollm2 EOS = %d %v", eos, ok)
	}
	if smol.AddsBOS() {
		t.Error("smollm2 has no post-processor, so it must not add BOS")
	}
	if !smol.IsSpecial(0) || smol.IsSpecial(19556) {
		t.Error("IsSpecial wrong for smollm2")
	}
	if got, _ := smol.Decode([]int32{19556, 1, 4093}, true); got != "Hellouser" {
		t.Errorf("skip-special decode = %q", got)
	}
	olmo := loadFixture(t, "olmo-dolma2")
	if olmo.VocabSize() != 100278 {
		t.Errorf("olmo VocabSize = %d", olmo.VocabSize())
	}
	if olmo.IsSpecial(100256) || !olmo.IsSpecial(100257) {
		t.Error("olmo: <|extra_id_0|> is not special, <|endoftext|> is")
	}
}
