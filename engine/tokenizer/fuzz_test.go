package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// byteLevelJSON is a small GPT-2-style tokenizer.json: all 256 byte-level characters, a few
// merges and one special token.
func byteLevelJSON() []byte {
	vocab := map[string]int{}
	for b := 0; b < 256; b++ {
		vocab[string(byteToRune[b])] = b
	}
	merges := []string{"Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "Ã ©"}
	for _, m := range merges {
		vocab[strings.Replace(m, " ", "", 1)] = len(vocab)
	}
	f := map[string]any{
		"added_tokens": []map[string]any{{"id": len(vocab), "content": "<|endoftext|>", "special": true, "normalized": false}},
		"normalizer":   nil,
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Digits", "individual_digits": true},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
		}},
		"post_processor": map[string]any{"type": "ByteLevel"},
		"decoder":        map[string]any{"type": "ByteLevel"},
		"model":          map[string]any{"type": "BPE", "vocab": vocab, "merges": merges},
	}
	b, _ := json.Marshal(f)
	return b
}

// spmLikeJSON is a stories260K-shaped tokenizer.json: byte fallback, Prepend/Replace
// normalizer, the Llama decoder and a BOS template.
func spmLikeJSON() []byte {
	tokens := spmLikeTokens()
	vocab := map[string]int{}
	for i, t := range tokens {
		vocab[t] = i
	}
	f := map[string]any{
		"added_tokens": []map[string]any{
			{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true},
			{"id": 2, "content": "</s>", "special": true}},
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "Prepend", "prepend": "▁"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"}}},
		"post_processor": map[string]any{"type": "TemplateProcessing",
			"single":         []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>"}}, map[string]any{"Sequence": map[string]any{"id": "A"}}},
			"special_tokens": map[string]any{"<s>": map[string]any{"id": "<s>", "ids": []int{1}}}},
		"decoder": map[string]any{"type": "Sequence", "decoders": []any{
			map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
			map[string]any{"type": "ByteFallback"}, map[string]any{"type": "Fuse"},
			map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0}}},
		"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": [][2]string{{"▁", "a"}, {"a", "b"}, {"▁a", "b"}},
			"unk_token": "<unk>", "byte_fallback": true, "fuse_unk": true},
	}
	b, _ := json.Marshal(f)
	return b
}

func spmLikeTokens() []string {
	tokens := []string{"<unk>", "<s>", "</s>"}
	for b := 0; b < 256; b++ {
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", b))
	}
	return append(tokens, "▁", "a", "b", "▁a", "ab", "▁ab", "c", "é")
}

func spmLikeVocab() SPMVocab {
	tokens := spmLikeTokens()
	v := SPMVocab{Tokens: tokens, BOS: 1, EOS: 2, UNK: 0, AddBOS: true}
	for i := range tokens {
		typ, score := int32(1), float32(-i)
		switch {
		case i == 0:
			typ = 2
		case i < 3:
			typ = 3
		case i < 259:
			typ = 6
		}
		v.Types, v.Scores = append(v.Types, typ), append(v.Scores, score)
	}
	return v
}

func FuzzLoad(f *testing.F) {
	f.Add(byteLevelJSON())
	f.Add(spmLikeJSON())
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]]},` +
		`"pre_tokenizer":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":true},` +
		`"decoder":{"type":"Metaspace","replacement":"▁","prepend_scheme":"first"}}`))
	f.Add([]byte(`{"model":{"vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]},` +
		`"pre_tokenizer":{"type":"Split","pattern":{"Regex":"\\s+(?!\\S)|\\p{N}{1,3}"},"behavior":"MergedWithPrevious","invert":false}}`))
	f.Add([]byte(`{"model":{"type":"WordPiece"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := Load(data, nil)
		if err != nil {
			return
		}
		for _, s := range []string{"", "ab a b", " 12 ab\n\n", "<s>é🙂"} {
			ids, err := tok.Encode(s, true)
			if err != nil {
				continue
			}
			if _, err := tok.Decode(ids, false); err != nil {
				t.Fatalf("Decode of Encode(%q) = %v: %v", s, ids, err)
			}
		}
	})
}

const maxStreamFuzzIDs = 512

func FuzzEncodeDecode(f *testing.F) {
	byteLevel, err := Load(byteLevelJSON(), nil)
	if err != nil {
		f.Fatal(err)
	}
	spmLike, err := Load(spmLikeJSON(), nil)
	if err != nil {
		f.Fatal(err)
	}
	spmVocab, err := FromSPM(spmLikeVocab())
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", "the theater", "  ab  abc\t\n", "café 123 ٣٤", "<|endoftext|>x<s>", "\xff\xfe", "日本🙂"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, tok := range map[string]*Tokenizer{"bytelevel": byteLevel, "spmlike": spmLike, "spm": spmVocab} {
			ids, err := tok.Encode(s, true)
			if err != nil {
				t.Fatalf("%s: Encode(%q): %v", name, s, err)
			}
			for _, skip := range []bool{false, true} {
				full, err := tok.Decode(ids, skip)
				if err != nil {
					t.Fatalf("%s: Decode(%v): %v", name, ids, err)
				}
				// The stream decoder re-decodes its window while output ends in U+FFFD, so
				// thousands of invalid bytes cost quadratic time; bound the fuzz work.
				if len(ids) <= maxStreamFuzzIDs {
					if got := streamAll(t, tok, ids, skip); got != full {
						t.Fatalf("%s: stream %q != Decode %q for ids %v", name, got, full, ids)
					}
				}
				if name == "bytelevel" && !skip && utf8.ValidString(s) && full != s {
					t.Fatalf("bytelevel round trip: %q -> %v -> %q", s, ids, full)
				}
			}
		}
	})
}

// FuzzStreamDecode feeds arbitrary id sequences (byte tokens that never complete, skipped
// specials between byte runs) through the stream decoder.
func FuzzStreamDecode(f *testing.F) {
	spmVocab, err := FromSPM(spmLikeVocab())
	if err != nil {
		f.Fatal(err)
	}
	byteLevel, err := Load(byteLevelJSON(), nil)
	if err != nil {
		f.Fatal(err)
	}
	// Two bytes per id, little endian, reduced modulo the vocabulary size.
	f.Add([]byte{1, 0, 6, 1, 0x44, 0, 0xE9, 0, 2, 0, 0x9A, 0, 3, 1})
	f.Add([]byte{0xC3, 0, 0xC3, 0, 0xA9, 0, 20, 0, 0xE6, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, tok := range []*Tokenizer{spmVocab, byteLevel} {
			ids := make([]int32, len(raw)/2)
			for i := range ids {
				ids[i] = (int32(raw[2*i]) | int32(raw[2*i+1])<<8) % int32(tok.VocabSize())
			}
			for _, skip := range []bool{false, true} {
				full, err := tok.Decode(ids, skip)
				if err != nil {
					t.Fatal(err)
				}
				if got := streamAll(t, tok, ids, skip); got != full {
					t.Fatalf("stream %q != Decode %q for %v (skip %v)", got, full, ids, skip)
				}
			}
		}
	})
}
