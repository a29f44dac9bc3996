package randmodel

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Token types as GGUF's tokenizer.ggml.token_type stores them.
const (
	typeNormal  = 1
	typeUnknown = 2
	typeControl = 3
	typeByte    = 6
)

// Special token ids, as in every Llama SentencePiece vocabulary.
const (
	UNK = 0
	BOS = 1
	EOS = 2
)

const space = "▁" // SentencePiece's U+2581, standing for a space

// chars are the single-character pieces in the order they are admitted: a small
// vocabulary keeps only the first ones (the space mark and the lower-case letters
// at least), and every other character falls back to byte tokens.
var chars = strings.Split(space+"etaoinshrdlcumwfgypbvkjxqz.,'TAISHWOBMCLDFNPRGEYJKUVQXZ0123456789!?\"-:;()", "")

// words seed the first merges so that common English words are one token even in
// a small vocabulary; their prefixes come with them, as BPE needs.
var words = strings.Fields(`the and to a was he she it of in said they his her you
with on that for once upon time there little day one big happy play saw friend mom named
wanted very had were but not be so`)

// minVocab holds the three specials, 256 byte tokens, the space mark and 26 letters.
const minVocab = 3 + 256 + 27

// Vocab is the synthetic vocabulary: ids 0-2 are <unk>, <s>, </s>, then the 256
// byte tokens <0x00>…<0xFF>, then merged pieces by rank, then single characters,
// the layout of a SentencePiece BPE model.
type Vocab struct {
	Tokens []string
	Scores []float32 // SentencePiece scores: higher merges first
	Types  []int32
	Merges [][2]string // Hugging Face BPE merges, highest priority first
}

// NewVocab builds the synthetic vocabulary of exactly n tokens.
func NewVocab(n int) (*Vocab, error) {
	if n < minVocab {
		return nil, fmt.Errorf("randmodel: a vocabulary needs at least %d tokens for its specials, bytes and letters, got %d", minVocab, n)
	}
	free := n - 259
	nChars := min(len(chars), max(27, free/2))
	pieces := mergedPieces(chars[:nChars], free-nChars)
	v := &Vocab{}
	v.add("<unk>", 0, typeUnknown)
	v.add("<s>", 0, typeControl)
	v.add("</s>", 0, typeControl)
	for b := 0; b < 256; b++ {
		v.add(fmt.Sprintf("<0x%02X>", b), 0, typeByte)
	}
	for i, p := range pieces {
		v.add(p, -float32(i), typeNormal)
	}
	for i, c := range chars[:nChars] {
		v.add(c, -float32(len(pieces)+i), typeNormal)
	}
	v.Merges = merges(v.Tokens[259:259+len(pieces)], v.ids())
	return v, nil
}

func (v *Vocab) add(tok string, score float32, typ int32) {
	v.Tokens = append(v.Tokens, tok)
	v.Scores = append(v.Scores, score)
	v.Types = append(v.Types, typ)
}

func (v *Vocab) ids() map[string]int {
	m := make(map[string]int, len(v.Tokens))
	for i, t := range v.Tokens {
		m[t] = i
	}
	return m
}

// mergedPieces returns n multi-character pieces, each a shorter piece plus one
// letter so that every piece is reachable by merges: first the common words with
// their prefixes, then a breadth-first extension of every piece by every letter.
func mergedPieces(alphabet []string, n int) []string {
	have := map[string]bool{}
	isLetter := map[string]bool{}
	for _, c := range alphabet {
		have[c] = true
		if c != space && strings.ToLower(c) != strings.ToUpper(c) {
			isLetter[c] = true
		}
	}
	var out []string
	queue := append([]string(nil), alphabet...)
	add := func(p string) {
		if len(out) < n && !have[p] {
			have[p], out, queue = true, append(out, p), append(queue, p)
		}
	}
	for _, w := range words {
		w = space + w
		if !allIn(w, have) {
			continue
		}
		for end := len(space) + 1; end <= len(w); end++ {
			add(w[:end])
		}
	}
	for i := 0; i < len(queue) && len(out) < n; i++ {
		p := queue[i]
		if p != space && !isLetter[lastRune(p)] {
			continue // digits and punctuation stay single
		}
		for _, c := range alphabet {
			if isLetter[c] {
				add(p + c)
			}
		}
	}
	return out
}

func allIn(s string, have map[string]bool) bool {
	for _, r := range s {
		if !have[string(r)] {
			return false
		}
	}
	return true
}

func lastRune(s string) string {
	_, size := utf8.DecodeLastRuneInString(s)
	return s[len(s)-size:]
}

// merges lists, for each merged piece by rank, every split into two pieces of the
// vocabulary, ordered by the ranks of the halves: what transformers'
// SentencePieceExtractor derives from a SentencePiece model, so that Hugging Face
// BPE and llama.cpp's score-driven SPM merge the same way.
func merges(pieces []string, id map[string]int) [][2]string {
	var out [][2]string
	for _, p := range pieces {
		var local [][2]string
		for i := range p {
			if i == 0 {
				continue
			}
			l, r := p[:i], p[i:]
			if _, ok := id[l]; !ok {
				continue
			}
			if _, ok := id[r]; ok {
				local = append(local, [2]string{l, r})
			}
		}
		slices.SortFunc(local, func(a, b [2]string) int {
			return cmp.Or(cmp.Compare(id[a[0]], id[b[0]]), cmp.Compare(id[a[1]], id[b[1]]))
		})
		out = append(out, local...)
	}
	return out
}
