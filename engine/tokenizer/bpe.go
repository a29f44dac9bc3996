package tokenizer

import (
	"fmt"
	"sync"
	"unicode/utf8"
)

// bpe is the Rust library's BPE model: characters of a pre-token are looked up, then merged
// pairwise by merge rank (lowest first, leftmost on ties) until no merge applies.
type bpe struct {
	vocab        map[string]int32
	merges       map[uint64]merge // key: left id << 32 | right id
	unkID        int32            // -1 when the model has no unk token
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	prefix       string // continuing_subword_prefix
	suffix       string // end_of_word_suffix
	byteIDs      [256]int32
	cache        wordCache
}

type merge struct {
	rank  int32
	newID int32
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// Same bounds as the Rust library: long words are rare and would only churn the cache.
const (
	cacheCapacity   = 10000
	cacheMaxWordLen = 256
)

// wordCache is a bounded, concurrency-safe memo of word -> ids. Like the Rust cache it stops
// accepting entries when full instead of evicting.
type wordCache struct {
	mu sync.RWMutex
	m  map[string][]int32
}

func (c *wordCache) get(w string) ([]int32, bool) {
	c.mu.RLock()
	ids, ok := c.m[w]
	c.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(w string, ids []int32) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string][]int32)
	}
	if len(c.m) < cacheCapacity {
		c.m[w] = ids
	}
	c.mu.Unlock()
}

// tokenize appends the ids of one pre-token to out.
func (m *bpe) tokenize(word string, out []int32) []int32 {
	if word == "" {
		return out
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[word]; ok {
			return append(out, id)
		}
	}
	cacheable := len(word) < cacheMaxWordLen
	if cacheable {
		if ids, ok := m.cache.get(word); ok {
			return append(out, ids...)
		}
	}
	ids := m.mergeWord(word)
	if cacheable {
		m.cache.put(word, ids)
	}
	return append(out, ids...)
}

// symbol is one node of the doubly linked list that merging shrinks in place.
type symbol struct {
	id         int32
	prev, next int32
	gone       bool
}

func (m *bpe) mergeWord(w string) []int32 {
	syms := m.initialSymbols(w)
	if len(syms) > 1 && len(m.merges) > 0 {
		m.mergeAll(syms)
	}
	ids := make([]int32, 0, len(syms))
	for _, s := range syms {
		if !s.gone {
			ids = append(ids, s.id)
		}
	}
	return ids
}

// initialSymbols splits w into characters (with prefix/suffix decoration), resolving unknown
// characters through byte fallback or the (optionally fused) unk token, exactly like
// BPE::merge_word in the Rust library, including its ordering quirks.
func (m *bpe) initialSymbols(w string) []symbol {
	syms := make([]symbol, 0, len(w))
	add := func(id int32) { syms = append(syms, symbol{id: id}) }
	unkPending := false
	for i := 0; i < len(w); {
		_, size := utf8.DecodeRuneInString(w[i:])
		end := i + size
		s := w[i:end]
		if i > 0 && m.prefix != "" {
			s = m.prefix + s
		}
		if end == len(w) && m.suffix != "" {
			s += m.suffix
		}
		if id, ok := m.vocab[s]; ok {
			if unkPending {
				add(m.unkID)
				unkPending = false
			}
			add(id)
		} else if m.byteFallback && m.hasAllBytes(s) {
			for j := 0; j < len(s); j++ {
				add(m.byteIDs[s[j]])
			}
		} else if m.unkID >= 0 {
			if unkPending && !m.fuseUnk {
				add(m.unkID)
			}
			unkPending = true
		}
		i = end
	}
	if unkPending {
		add(m.unkID)
	}
	for i := range syms {
		syms[i].prev = int32(i - 1)
		syms[i].next = int32(i + 1)
	}
	if len(syms) > 0 {
		syms[len(syms)-1].next = -1
	}
	return syms
}

func (m *bpe) hasAllBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if m.byteIDs[s[i]] < 0 {
			return false
		}
	}
	return true
}

// mergeAll is Word::merge_all: a min-heap of candidate merges ordered by (rank, position);
// stale entries are detected by re-checking the pair when popped.
func (m *bpe) mergeAll(syms []symbol) {
	h := minHeap[mergeCand]{items: make([]mergeCand, 0, len(syms)), less: mergeCand.less}
	for i := 0; i+1 < len(syms); i++ {
		if mg, ok := m.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			h.push(mergeCand{pos: int32(i), rank: mg.rank, newID: mg.newID})
		}
	}
	for h.len() > 0 {
		top := h.pop()
		cur := &syms[top.pos]
		if cur.gone || cur.next < 0 {
			continue
		}
		right := &syms[cur.next]
		if mg, ok := m.merges[pairKey(cur.id, right.id)]; !ok || mg.newID != top.newID {
			continue
		}
		cur.id = top.newID
		right.gone = true
		cur.next = right.next
		if cur.next >= 0 {
			syms[cur.next].prev = top.pos
		}
		if cur.prev >= 0 {
			if mg, ok := m.merges[pairKey(syms[cur.prev].id, cur.id)]; ok {
				h.push(mergeCand{pos: cur.prev, rank: mg.rank, newID: mg.newID})
			}
		}
		if cur.next >= 0 {
			if mg, ok := m.merges[pairKey(cur.id, syms[cur.next].id)]; ok {
				h.push(mergeCand{pos: top.pos, rank: mg.rank, newID: mg.newID})
			}
		}
	}
}

type mergeCand struct {
	pos, rank, newID int32
}

func (a mergeCand) less(b mergeCand) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.pos < b.pos
}

// newBPE builds the model from parsed vocab and merges, checking every merge the way the
// Rust library does (both parts and the merged token must be in the vocabulary).
func newBPE(vocab map[string]int32, merges [][2]string, prefix string) (*bpe, error) {
	m := &bpe{vocab: vocab, merges: make(map[uint64]merge, len(merges)), unkID: -1, prefix: prefix}
	for rank, p := range merges {
		a, ok := vocab[p[0]]
		if !ok {
			return nil, fmt.Errorf("BPE merge %d: token %q not in vocabulary", rank, p[0])
		}
		b, ok := vocab[p[1]]
		if !ok {
			return nil, fmt.Errorf("BPE merge %d: token %q not in vocabulary", rank, p[1])
		}
		if len(p[1]) < len(prefix) {
			return nil, fmt.Errorf("BPE merge %d: %q shorter than continuing_subword_prefix", rank, p[1])
		}
		// The Rust library rejects a merge whose product is not in the vocabulary. Real files
		// have them (the gpt2 fixture renames "ĠClaude" but keeps "ĠCla ude"), and
		// transformers.js loads them; such a merge can never yield a token, so it is skipped.
		id, ok := vocab[p[0]+p[1][len(prefix):]]
		if !ok {
			continue
		}
		m.merges[pairKey(a, b)] = merge{rank: int32(rank), newID: id}
	}
	for i := range m.byteIDs {
		m.byteIDs[i] = -1
		if id, ok := vocab[fmt.Sprintf("<0x%02X>", i)]; ok {
			m.byteIDs[i] = id
		}
	}
	return m, nil
}
