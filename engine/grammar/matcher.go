package grammar

import (
	"math"
	"sync"
)

var negInf = float32(math.Inf(-1))

// maskBudget bounds the bytes the mask cache holds, over all grammars: a
// mask of a 150k-token vocabulary is 19 KB, and a long document visits
// thousands of states. Past it the cache starts over.
const maskBudget = 256 << 20

// masks caches the masks of every grammar, by grammar, vocabulary and
// matcher state.
var masks = &maskCache{limit: maskBudget}

type maskCache struct {
	mu    sync.Mutex
	m     map[maskKey]Mask
	bytes int
	limit int
}

type maskKey struct {
	g     *Grammar
	v     *Vocab
	state string
}

func (c *maskCache) get(k maskKey) (Mask, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.m[k]
	return m, ok
}

func (c *maskCache) put(k maskKey, m Mask) {
	c.mu.Lock()
	defer c.mu.Unlock()
	size := 8*len(m) + len(k.state)
	if c.m == nil || c.bytes+size > c.limit {
		c.m, c.bytes = map[maskKey]Mask{}, 0
	}
	if _, ok := c.m[k]; !ok {
		c.m[k] = m
		c.bytes += size
	}
}

// Matcher follows one output through a grammar. It is not safe for concurrent
// use; Mask may run on another goroutine than the one that calls Advance, as
// long as the calls do not overlap.
type Matcher struct {
	g       *Grammar
	v       *Vocab
	cur     []*stack
	key     string // stateKey(cur), "" until needed
	mask    Mask   // the mask of cur, nil until computed
	scratch [][]*stack
}

// NewMatcher starts matching an output of g in v's tokens.
func (g *Grammar) NewMatcher(v *Vocab) *Matcher {
	return &Matcher{g: g, v: v, cur: []*stack{{f: frame{n: g.doc}}}}
}

// Mask returns the tokens that may come next: those whose bytes continue the
// output, and the end-of-sequence tokens once the output is complete. The
// mask is shared: callers must not change it.
func (m *Matcher) Mask() Mask {
	if m.mask != nil {
		return m.mask
	}
	if m.key == "" {
		m.key = stateKey(m.cur)
	}
	k := maskKey{g: m.g, v: m.v, state: m.key}
	if cached, ok := masks.get(k); ok {
		m.mask = cached
		return cached
	}
	mask, ok := m.v.freeString(m.cur, &m.scratch)
	if !ok {
		mask = newMask(m.v.size)
		m.v.all.walk(0, m.cur, mask, &m.scratch, 0)
	}
	if m.Accepting() || mask.Count() == 0 {
		// With nothing left to say, ending is the only way out.
		for _, id := range m.v.eos {
			mask.set(id)
		}
	}
	masks.put(k, mask)
	m.mask = mask
	return mask
}

// Advance moves past token id's bytes; it reports false, and keeps the state,
// when the token does not continue the output (a token with no bytes, such as
// the end of sequence, changes nothing).
func (m *Matcher) Advance(id int32) bool {
	text := m.v.Bytes(id)
	next := m.cur
	for _, b := range text {
		next = step(next, b, nil)
		if len(next) == 0 {
			return false
		}
	}
	if len(text) > 0 {
		m.cur, m.key, m.mask = next, "", nil
	}
	return true
}

// Accepting reports whether the output so far is a complete document.
func (m *Matcher) Accepting() bool {
	for _, c := range m.cur {
		if accepting(c) {
			return true
		}
	}
	return false
}

// Done reports whether the document is complete and nothing may follow.
func (m *Matcher) Done() bool {
	for _, c := range m.cur {
		if c.f.n.kind != kindDocument || c.f.st != dDone {
			return false
		}
	}
	return len(m.cur) > 0
}

func accepting(c *stack) bool {
	switch c.f.n.kind {
	case kindDocument:
		return c.f.st == dDone
	case kindNumber, kindInteger:
		return numberAccepts(c.f.st) && accepting(c.up)
	}
	return false
}
