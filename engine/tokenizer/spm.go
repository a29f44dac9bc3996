package tokenizer

import (
	"fmt"
	"sort"
	"strings"
)

// SPMVocab is a SentencePiece vocabulary as stored in GGUF (tokenizer.ggml.*).
// Types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
type SPMVocab struct {
	Tokens         []string
	Scores         []float32
	Types          []int32
	BOS, EOS, UNK  int32
	AddBOS, AddEOS bool
	// NoSpacePrefix is tokenizer.ggml.add_space_prefix == false; llama.cpp's default (the
	// zero value here) prepends one U+2581 to each run of text.
	NoSpacePrefix bool
}

const (
	spmNormal      = 1
	spmUnknown     = 2
	spmControl     = 3
	spmUserDefined = 4
	spmUnused      = 5
	spmByte        = 6
)

// maxSPMTokens bounds a GGUF vocabulary; the largest real ones hold about 260k tokens.
const maxSPMTokens = 1 << 22

// spm is llama.cpp's llm_tokenizer_spm.
type spm struct {
	tokenToID   map[string]int32
	scores      []float32
	byteIDs     [256]int32
	specials    []int32 // matched in text before tokenizing, longest first
	texts       []string
	userDefined []bool
	addBOS      bool
	addEOS      bool
	bos, eos    int32
	spacePrefix bool
}

// FromSPM builds a tokenizer that encodes exactly like llama.cpp's SPM tokenizer and
// decodes like the Hugging Face Llama decoder (Replace ▁, ByteFallback, Fuse, Strip one
// leading space).
func FromSPM(v SPMVocab) (*Tokenizer, error) {
	n := len(v.Tokens)
	if n == 0 || n > maxSPMTokens {
		return nil, fmt.Errorf("tokenizer: SPM vocab has %d tokens", n)
	}
	if len(v.Scores) != n || len(v.Types) != n {
		return nil, fmt.Errorf("tokenizer: SPM vocab has %d tokens, %d scores, %d types", n, len(v.Scores), len(v.Types))
	}
	for _, id := range []int32{v.BOS, v.EOS, v.UNK} {
		if id < 0 || int(id) >= n {
			return nil, fmt.Errorf("tokenizer: SPM special id %d outside vocab of %d", id, n)
		}
	}
	s := &spm{
		tokenToID: make(map[string]int32, n), scores: v.Scores, texts: v.Tokens,
		userDefined: make([]bool, n), addBOS: v.AddBOS, addEOS: v.AddEOS,
		bos: v.BOS, eos: v.EOS, spacePrefix: !v.NoSpacePrefix,
	}
	t := &Tokenizer{
		spm: s, idToToken: v.Tokens, hasToken: make([]bool, n), special: make([]bool, n),
		tokenToID: s.tokenToID, bos: v.BOS, eos: v.EOS, hasBOS: true, hasEOS: true,
		eosIDs:  []int32{v.EOS},
		decoder: llamaDecoder(), byteFallback: true,
	}
	for i, tok := range v.Tokens {
		id := int32(i)
		t.hasToken[i] = true
		if _, dup := s.tokenToID[tok]; !dup {
			s.tokenToID[tok] = id
		}
		switch v.Types[i] {
		case spmControl, spmUnknown:
			t.special[i] = true
			s.specials = append(s.specials, id)
		case spmUserDefined:
			s.userDefined[i] = true
			s.specials = append(s.specials, id)
		}
	}
	for i := range s.byteIDs {
		s.byteIDs[i] = -1
		if id, ok := s.tokenToID[fmt.Sprintf("<0x%02X>", i)]; ok {
			s.byteIDs[i] = id
		} else if id, ok := s.tokenToID[string([]byte{byte(i)})]; ok {
			s.byteIDs[i] = id
		}
	}
	sort.SliceStable(s.specials, func(a, b int) bool {
		return len(v.Tokens[s.specials[a]]) > len(v.Tokens[s.specials[b]])
	})
	return t, nil
}

func llamaDecoder() decoder {
	return decSequence{
		decReplace{pat: pattern{lit: "\u2581"}, content: " "},
		decByteFallback{},
		decFuse{},
		decStrip{content: ' ', start: 1},
	}
}

// fragment is a run of raw text or one special token (llama.cpp fragment_buffer_variant).
type fragment struct {
	text string
	id   int32 // -1 for text
}

// partition is llama.cpp's tokenizer_st_partition: for each special token, longest first,
// every occurrence in the remaining raw-text fragments is cut out. Empty texts never match.
func (s *spm) partition(text string) []fragment {
	if text == "" {
		return nil
	}
	frags := []fragment{{text: text, id: -1}}
	for _, id := range s.specials {
		tok := s.texts[id]
		if tok == "" {
			continue
		}
		var next []fragment
		for _, f := range frags {
			if f.id >= 0 || !strings.Contains(f.text, tok) {
				next = append(next, f)
				continue
			}
			rest := f.text
			for {
				i := strings.Index(rest, tok)
				if i < 0 {
					break
				}
				if i > 0 {
					next = append(next, fragment{text: rest[:i], id: -1})
				}
				next = append(next, fragment{id: id})
				rest = rest[i+len(tok):]
			}
			if rest != "" {
				next = append(next, fragment{text: rest, id: -1})
			}
		}
		frags = next
	}
	return frags
}

func (s *spm) encode(text string, addSpecial bool) ([]int32, error) {
	var out []int32
	prevSpecial := true
	if addSpecial && s.addBOS {
		out = append(out, s.bos)
	}
	for _, f := range s.partition(text) {
		if f.id >= 0 {
			out = append(out, f.id)
			prevSpecial = true
			continue
		}
		t := f.text
		if s.spacePrefix && prevSpecial {
			t = " " + t
		}
		var err error
		if out, err = s.tokenize(strings.ReplaceAll(t, " ", "\u2581"), out); err != nil {
			return nil, err
		}
		prevSpecial = false
	}
	if addSpecial && s.addEOS {
		out = append(out, s.eos)
	}
	return out, nil
}

type spmSymbol struct {
	start, n   int
	prev, next int
}

type bigram struct {
	left, right int
	score       float32
	size        int
}

// less orders the work queue: highest score first, then leftmost.
func (a bigram) less(b bigram) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.left < b.left
}

type spmSession struct {
	s        *spm
	text     string
	syms     []spmSymbol
	queue    minHeap[bigram]
	revMerge map[string][2]int
}

// tokenize is llm_tokenizer_spm_session::tokenize.
func (s *spm) tokenize(text string, out []int32) ([]int32, error) {
	if text == "" {
		return out, nil
	}
	ss := &spmSession{s: s, text: text, revMerge: map[string][2]int{}, queue: minHeap[bigram]{less: bigram.less}}
	for off := 0; off < len(text); {
		n := min(utf8Len(text[off]), len(text)-off)
		idx := len(ss.syms)
		next := idx + 1
		if off+n == len(text) {
			next = -1
		}
		ss.syms = append(ss.syms, spmSymbol{start: off, n: n, prev: idx - 1, next: next})
		off += n
	}
	for i := 1; i < len(ss.syms); i++ {
		ss.tryAdd(i-1, i)
	}
	for ss.queue.len() > 0 {
		bg := ss.queue.pop()
		l, r := &ss.syms[bg.left], &ss.syms[bg.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != bg.size {
			continue
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			ss.syms[r.next].prev = bg.left
		}
		ss.tryAdd(l.prev, bg.left)
		ss.tryAdd(bg.left, l.next)
	}
	var err error
	for i := 0; i != -1 && err == nil; i = ss.syms[i].next {
		out, err = ss.resegment(i, out)
	}
	return out, err
}

// utf8Len is llama.cpp's unicode_len_utf8: the length implied by a lead byte, 1 for
// anything else, so invalid bytes become single symbols.
func utf8Len(b byte) int {
	switch {
	case b >= 0xF0:
		return 4
	case b >= 0xE0:
		return 3
	case b >= 0xC0:
		return 2
	}
	return 1
}

func (ss *spmSession) symText(i int) string {
	return ss.text[ss.syms[i].start : ss.syms[i].start+ss.syms[i].n]
}

func (ss *spmSession) tryAdd(left, right int) {
	if left < 0 || right < 0 {
		return
	}
	l := ss.syms[left]
	text := ss.text[l.start : l.start+l.n+ss.syms[right].n]
	id, ok := ss.s.tokenToID[text]
	if !ok {
		return
	}
	ss.queue.push(bigram{left: left, right: right, score: ss.s.scores[id], size: len(text)})
	ss.revMerge[text] = [2]int{left, right}
}

func (ss *spmSession) resegment(i int, out []int32) ([]int32, error) {
	text := ss.symText(i)
	if id, ok := ss.s.tokenToID[text]; ok {
		return append(out, id), nil
	}
	p, ok := ss.revMerge[text]
	if !ok {
		for j := 0; j < len(text); j++ {
			id := ss.s.byteIDs[text[j]]
			if id < 0 {
				return nil, fmt.Errorf("tokenizer: SPM vocab has no byte token for 0x%02X", text[j])
			}
			out = append(out, id)
		}
		return out, nil
	}
	out, err := ss.resegment(p[0], out)
	if err != nil {
		return nil, err
	}
	return ss.resegment(p[1], out)
}
