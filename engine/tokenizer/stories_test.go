package tokenizer

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/graft-ai/graft/internal/testmodels"
)

type storiesGolden struct {
	Upstream struct {
		Greedy struct {
			IDs  []int32 `json:"ids"`
			Text string  `json:"text"`
		} `json:"greedy"`
		Sampled struct {
			IDs  []int32 `json:"ids"`
			Text string  `json:"text"`
		} `json:"sampled"`
	} `json:"upstream"`
	Tokenizer struct {
		Lily      encoding   `json:"lily_sentence"`
		Encodings []encoding `json:"encodings"`
	} `json:"tokenizer"`
}

type encoding struct {
	Text string  `json:"text"`
	IDs  []int32 `json:"ids"`
}

func storiesTokenizers(t *testing.T) map[string]*Tokenizer {
	t.Helper()
	hf, err := LoadDir(filepath.Dir(testmodels.Path(t, "stories260K", "hf", "tokenizer.json")))
	if err != nil {
		t.Fatal(err)
	}
	v, err := readGGUFVocab(testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	gg, err := FromSPM(v)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*Tokenizer{"hf": hf, "gguf": gg}
}

func TestStories260K(t *testing.T) {
	var g storiesGolden
	readJSON(t, testmodels.Path(t, "stories260K", "golden.json"), &g)
	cases := append([]encoding{g.Tokenizer.Lily}, g.Tokenizer.Encodings...)
	if len(cases) < 5 || len(g.Upstream.Greedy.IDs) == 0 || g.Upstream.Greedy.Text == "" {
		t.Fatal("golden.json lacks tokenizer encodings or upstream greedy text")
	}
	for name, tok := range storiesTokenizers(t) {
		t.Run(name, func(t *testing.T) {
			if bos, ok := tok.BOS(); !ok || bos != 1 || !tok.AddsBOS() {
				t.Errorf("BOS = %d %v, AddsBOS %v", bos, ok, tok.AddsBOS())
			}
			if eos, ok := tok.EOS(); !ok || eos != 2 {
				t.Errorf("EOS = %d %v", eos, ok)
			}
			if tok.VocabSize() != 512 {
				t.Errorf("VocabSize = %d", tok.VocabSize())
			}
			for _, c := range cases {
				ids, err := tok.Encode(c.Text, true)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(ids, c.IDs) {
					t.Errorf("Encode(%q) = %v, want %v", c.Text, ids, c.IDs)
				}
				if got, _ := tok.Decode(c.IDs, true); got != c.Text {
					t.Errorf("Decode(%v, skip) = %q, want %q", c.IDs, got, c.Text)
				}
				if got := streamAll(t, tok, c.IDs, true); got != c.Text {
					t.Errorf("stream decode of %v = %q, want %q", c.IDs, got, c.Text)
				}
			}
			for _, up := range []encoding{
				{g.Upstream.Greedy.Text, g.Upstream.Greedy.IDs},
				{g.Upstream.Sampled.Text, g.Upstream.Sampled.IDs},
			} {
				if got, _ := tok.Decode(up.IDs, false); got != up.Text {
					t.Errorf("Decode(upstream) = %q, want %q", got, up.Text)
				}
				if got := streamAll(t, tok, up.IDs, false); got != up.Text {
					t.Errorf("stream decode(upstream) = %q, want %q", got, up.Text)
				}
				ids, _ := tok.Encode(up.Text, true)
				if !slices.Equal(ids, append([]int32{1}, up.IDs...)) {
					t.Errorf("Encode(upstream text) differs from BOS + upstream ids")
				}
			}
			if got, _ := tok.Decode([]int32{1, 403}, false); got != "<s> Once" {
				t.Errorf("Decode with BOS kept = %q, want %q", got, "<s> Once")
			}
		})
	}
}

// readGGUFVocab reads just the tokenizer.ggml.* keys of a GGUF file: a deliberately tiny
// reader so this package's tests do not depend on engine/gguf.
func readGGUFVocab(path string) (SPMVocab, error) {
	f, err := os.Open(path)
	if err != nil {
		return SPMVocab{}, err
	}
	defer f.Close()
	r := &ggufReader{r: bufio.NewReader(f)}
	var hdr struct {
		Magic   [4]byte
		Version uint32
		Tensors uint64
		KVs     uint64
	}
	if err := binary.Read(r.r, binary.LittleEndian, &hdr); err != nil {
		return SPMVocab{}, err
	}
	if string(hdr.Magic[:]) != "GGUF" || hdr.Version < 2 {
		return SPMVocab{}, fmt.Errorf("%s: not GGUF v2+", path)
	}
	var v SPMVocab
	sawAddBOS := false
	for i := uint64(0); i < hdr.KVs && r.err == nil; i++ {
		key := r.str()
		val := r.value(r.u32())
		switch key {
		case "tokenizer.ggml.tokens":
			for _, x := range val.([]any) {
				v.Tokens = append(v.Tokens, x.(string))
			}
		case "tokenizer.ggml.scores":
			for _, x := range val.([]any) {
				v.Scores = append(v.Scores, x.(float32))
			}
		case "tokenizer.ggml.token_type":
			for _, x := range val.([]any) {
				v.Types = append(v.Types, x.(int32))
			}
		case "tokenizer.ggml.bos_token_id":
			v.BOS = int32(val.(uint32))
		case "tokenizer.ggml.eos_token_id":
			v.EOS = int32(val.(uint32))
		case "tokenizer.ggml.unknown_token_id":
			v.UNK = int32(val.(uint32))
		case "tokenizer.ggml.add_bos_token":
			v.AddBOS, sawAddBOS = val.(bool), true
		case "tokenizer.ggml.add_eos_token":
			v.AddEOS = val.(bool)
		}
	}
	if r.err != nil {
		return SPMVocab{}, r.err
	}
	if !sawAddBOS {
		v.AddBOS = true // llama.cpp's default for SPM vocabularies that do not say
	}
	return v, nil
}

type ggufReader struct {
	r   io.Reader
	err error
}

func (g *ggufReader) read(n int) []byte {
	if g.err != nil {
		return make([]byte, n)
	}
	b := make([]byte, n)
	_, g.err = io.ReadFull(g.r, b)
	return b
}

func (g *ggufReader) u32() uint32 { return binary.LittleEndian.Uint32(g.read(4)) }
func (g *ggufReader) u64() uint64 { return binary.LittleEndian.Uint64(g.read(8)) }
func (g *ggufReader) str() string {
	n := g.u64()
	if n > 1<<20 {
		g.err = fmt.Errorf("string of %d bytes", n)
		return ""
	}
	return string(g.read(int(n)))
}

func (g *ggufReader) value(typ uint32) any {
	switch typ {
	case 0, 1:
		return g.read(1)[0]
	case 2, 3:
		return g.read(2)
	case 4:
		return g.u32()
	case 5:
		return int32(g.u32())
	case 6:
		return math.Float32frombits(g.u32())
	case 7:
		return g.read(1)[0] != 0
	case 8:
		return g.str()
	case 9:
		et, n := g.u32(), g.u64()
		if n > 1<<24 {
			g.err = fmt.Errorf("array of %d elements", n)
			return nil
		}
		out := make([]any, 0, n)
		for i := uint64(0); i < n && g.err == nil; i++ {
			out = append(out, g.value(et))
		}
		return out
	case 10, 11:
		return g.u64()
	case 12:
		return math.Float64frombits(g.u64())
	}
	g.err = fmt.Errorf("unknown GGUF value type %d", typ)
	return nil
}
