package grammar

import (
	"slices"
	"sort"
	"unicode/utf8"
)

// Vocab is a tokenizer's vocabulary as byte tries, built once per tokenizer
// and shared by every grammar: a mask is a walk of a trie.
//
// Inside a free string nearly every token continues the output, so walking
// all of them each step would cost the most exactly where documents spend
// most of their tokens. The tokens that are plain string text (whole UTF-8
// characters, no quote, backslash or control byte) are therefore kept as a
// precomputed mask with their lengths in characters, and a second trie holds
// only the others: a step inside a free string is the plain mask plus a walk
// of that smaller trie.
type Vocab struct {
	size       int
	eos        []int32
	bytes      [][]byte // each token's text
	all        trie
	rest       trie    // the tokens that are not plain string text
	plain      Mask    // the tokens that are
	plainChars []int32 // characters in each plain token
	maxPlain   int32   // the most characters in a plain token
}

type trie struct{ nodes []trieNode }

type trieNode struct {
	edges  []trieEdge // sorted by byte
	tokens []int32    // tokens whose bytes end here
}

type trieEdge struct {
	b     byte
	child int32
}

// NewVocab builds the tries of a vocabulary of size ids (the model's logits
// row, which may be longer than the tokenizer's list): tokens[id] is the text
// token id adds to the output, nil or empty for tokens a constrained output
// never contains (special tokens). eos are the ids that end the output.
func NewVocab(size int, tokens [][]byte, eos []int32) *Vocab {
	v := &Vocab{size: size, bytes: tokens, all: trie{nodes: []trieNode{{}}}, rest: trie{nodes: []trieNode{{}}},
		plain: newMask(size), plainChars: make([]int32, len(tokens))}
	for _, id := range eos {
		if id >= 0 && int(id) < size {
			v.eos = append(v.eos, id)
		}
	}
	order := make([]int, 0, len(tokens))
	for id, t := range tokens {
		if len(t) > 0 && id < size {
			order = append(order, id)
		}
	}
	sort.Slice(order, func(a, b int) bool { return string(tokens[order[a]]) < string(tokens[order[b]]) })
	for _, id := range order {
		v.all.insert(tokens[id], int32(id))
		if n, ok := plainText(tokens[id]); ok {
			v.plain.set(int32(id))
			v.plainChars[id] = n
			v.maxPlain = max(v.maxPlain, n)
		} else {
			v.rest.insert(tokens[id], int32(id))
		}
	}
	return v
}

// plainText reports whether t can sit anywhere inside a JSON string as it is,
// and how many characters it holds.
func plainText(t []byte) (int32, bool) {
	if !utf8.Valid(t) {
		return 0, false
	}
	for _, b := range t {
		if b < 0x20 || b == '"' || b == '\\' {
			return 0, false
		}
	}
	return int32(utf8.RuneCount(t)), true
}

// insert adds a token; insertion in sorted order means a new edge is always
// the last of its node.
func (t *trie) insert(text []byte, id int32) {
	cur := int32(0)
	for _, b := range text {
		es := t.nodes[cur].edges
		if len(es) > 0 && es[len(es)-1].b == b {
			cur = es[len(es)-1].child
			continue
		}
		c := int32(len(t.nodes))
		t.nodes = append(t.nodes, trieNode{})
		t.nodes[cur].edges = append(t.nodes[cur].edges, trieEdge{b: b, child: c})
		cur = c
	}
	t.nodes[cur].tokens = append(t.nodes[cur].tokens, id)
}

// Bytes returns the text token id adds (nil for tokens outside constrained
// output).
func (v *Vocab) Bytes(id int32) []byte {
	if id < 0 || int(id) >= len(v.bytes) {
		return nil
	}
	return v.bytes[id]
}

// Size is the length of the logits rows masks apply to.
func (v *Vocab) Size() int { return v.size }

// Mask is a set of allowed token ids, one bit each.
type Mask []uint64

func newMask(size int) Mask { return make(Mask, (size+63)/64) }

func (m Mask) set(id int32) { m[id>>6] |= 1 << (id & 63) }

// Allows reports whether id is in the mask.
func (m Mask) Allows(id int32) bool {
	return id >= 0 && int(id>>6) < len(m) && m[id>>6]&(1<<(id&63)) != 0
}

// Count is the number of allowed tokens.
func (m Mask) Count() int {
	n := 0
	for _, w := range m {
		for ; w != 0; w &= w - 1 {
			n++
		}
	}
	return n
}

// Apply sets the logits of tokens outside the mask to -Inf.
func (m Mask) Apply(logits []float32) {
	for w, bits := range m {
		if bits == ^uint64(0) {
			continue
		}
		base := w * 64
		end := min(base+64, len(logits))
		for i := base; i < end; i++ {
			if bits&(1<<(i-base)) == 0 {
				logits[i] = negInf
			}
		}
	}
	for i := len(m) * 64; i < len(logits); i++ {
		logits[i] = negInf
	}
}

// walk marks every token whose bytes some stack in from accepts, descending
// only into trie nodes some stack survives.
func (t *trie) walk(n int32, from []*stack, mask Mask, scratch *[][]*stack, depth int) {
	for _, e := range t.nodes[n].edges {
		next := step(from, e.b, level(scratch, depth))
		(*scratch)[depth] = next
		if len(next) == 0 {
			continue
		}
		for _, id := range t.nodes[e.child].tokens {
			mask.set(id)
		}
		if len(t.nodes[e.child].edges) > 0 {
			t.walk(e.child, next, mask, scratch, depth+1)
		}
	}
}

// level is the reusable stack list for one trie depth.
func level(scratch *[][]*stack, depth int) []*stack {
	for len(*scratch) <= depth {
		*scratch = append(*scratch, nil)
	}
	return (*scratch)[depth][:0]
}

// step advances every stack by b, dropping duplicates.
func step(from []*stack, b byte, out []*stack) []*stack {
	for _, c := range from {
		out = consume(c, b, out)
	}
	if len(out) > 1 {
		out = dedupe(out)
	}
	if len(out) > maxStacks {
		out = out[:maxStacks]
	}
	return out
}

func dedupe(s []*stack) []*stack {
	seen := make(map[string]bool, len(s))
	out := s[:0]
	var buf []byte
	for _, c := range s {
		buf = appendKey(buf[:0], c)
		if seen[string(buf)] {
			continue
		}
		seen[string(buf)] = true
		out = append(out, c)
	}
	return out
}

// appendKey writes a stack's identity: equal keys, equal futures.
func appendKey(buf []byte, c *stack) []byte {
	for ; c != nil; c = c.up {
		f := &c.f
		buf = append(buf, byte(f.n.id), byte(f.n.id>>8), byte(f.n.id>>16), f.st, f.ws, f.h)
		buf = appendInt(buf, uint32(f.i))
		buf = appendInt(buf, uint32(f.k))
		buf = appendInt(buf, f.u)
		buf = appendInt(buf, uint32(f.v))
		buf = appendInt(buf, uint32(f.v>>32))
	}
	return append(buf, '|')
}

func appendInt(buf []byte, v uint32) []byte {
	return append(buf, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

// stateKey identifies a set of stacks regardless of their order.
func stateKey(s []*stack) string {
	keys := make([]string, len(s))
	for i, c := range s {
		keys[i] = string(appendKey(nil, c))
	}
	slices.Sort(keys)
	n := 0
	for _, k := range keys {
		n += len(k)
	}
	buf := make([]byte, 0, n)
	for _, k := range keys {
		buf = append(buf, k...)
	}
	return string(buf)
}

// freeString is the mask of a matcher whose stacks all sit in the body of a
// string without a pattern: every plain token that fits some stack's length
// bound, and whatever else the smaller trie's walk allows. ok is false for
// any other state.
func (v *Vocab) freeString(cur []*stack, scratch *[][]*stack) (Mask, bool) {
	if len(cur) == 0 {
		return nil, false
	}
	room := int32(-1) // the most characters a stack takes; -1: no bound
	for i, c := range cur {
		f, n := c.f, c.f.n
		if n.kind != kindString || f.st != sBody || f.u != 0 || n.re != nil {
			return nil, false
		}
		r := int32(-1)
		if n.maxLen >= 0 {
			r = int32(n.maxLen) - f.k
		}
		if i == 0 || room >= 0 && (r < 0 || r > room) {
			room = r
		}
	}
	mask := slices.Clone(v.plain)
	if room >= 0 && room < v.maxPlain {
		for id, chars := range v.plainChars {
			if chars > room {
				mask[id>>6] &^= 1 << (id & 63)
			}
		}
	}
	v.rest.walk(0, cur, mask, scratch, 0)
	return mask, true
}
