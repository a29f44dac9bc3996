package grammar

import (
	"bytes"
	"unicode/utf8"
)

// frame is one level of a stack: what a container or scalar has matched so
// far. Its fields mean different things per kind (see the state constants).
type frame struct {
	n  *node
	st uint8
	ws uint8 // whitespace bytes in the current gap
	h  uint8 // hex digits of a \u escape read so far
	i  int32 // property index, item count, literal index, regex thread (-1: matched), number length
	k  int32 // key or literal position, string length in characters; 1 for a negative bounded number
	u  uint32
	v  int64 // a bounded number's integer part so far
}

// stack is a persistent stack of frames: steps share the frames below the top.
type stack struct {
	f     frame
	up    *stack
	depth int32
}

const (
	// maxWS bounds whitespace between tokens: a model cannot pad forever.
	maxWS = 8
	// maxDepth bounds nesting of objects and arrays.
	maxDepth = 48
	// maxNumLen bounds a number's length in bytes.
	maxNumLen = 24
	// maxStacks bounds the stacks a matcher follows at once; dropping some
	// only drops possibilities, each remaining stack can still complete.
	maxStacks = 256
	// maxAltDepth bounds anyOf and $ref expansion without input, so a schema
	// that refers to itself without consuming anything cannot loop.
	maxAltDepth = 32
)

// document states
const (
	dStart uint8 = iota
	dDone
)

// object states; i is the next declared property (len(props): extra keys)
const (
	oOpen uint8 = iota
	oFirst
	oKey // k: bytes of props[i].key matched
	oColon
	oValue
	oAfter
	oNext
)

// array states; i is the items so far, saturated (see count)
const (
	aOpen uint8 = iota
	aFirst
	aAfter
	aNext
)

// string states; k counts characters (saturated), i is the regex thread,
// u the bytes of a UTF-8 character being read (or a \u escape's value).
const (
	sOpen uint8 = iota
	sBody
	sEsc
	sHex
)

// number states, JSON's number grammar; i is the length.
const (
	nStart uint8 = iota
	nMinus
	nZero
	nInt
	nDot
	nFrac
	nE
	nESign
	nExp
)

// keyNode is the node of a free object key.
var keyNode = &node{id: -1, kind: kindString, maxLen: -1, maxItems: -1, productive: true}

// canKey reports whether a key may follow once properties before i are done.
func canKey(n *node, i int32) bool {
	for _, p := range n.props[i:] {
		if p.val.productive {
			return true
		}
	}
	return n.extra != nil && n.extra.productive
}

func isWS(b byte) bool { return b == ' ' || b == '\n' || b == '\t' }

func with(c *stack, f frame) *stack { return &stack{f: f, up: c.up, depth: c.depth} }

func push(up *stack, f frame) *stack { return &stack{f: f, up: up, depth: up.depth + 1} }

// gap consumes whitespace between tokens; it reports whether b was
// whitespace (taken, or refused past maxWS).
func gap(c *stack, b byte, out []*stack) ([]*stack, bool) {
	if !isWS(b) {
		return out, false
	}
	if c.f.ws < maxWS {
		f := c.f
		f.ws++
		out = append(out, with(c, f))
	}
	return out, true
}

// begin lists the stacks that start a value of n above up.
func begin(n *node, up *stack, out []*stack, depth int) []*stack {
	if !n.productive {
		return out
	}
	switch n.kind {
	case kindAlt:
		if depth >= maxAltDepth {
			return out
		}
		for _, a := range n.alts {
			out = begin(a, up, out, depth+1)
		}
		return out
	case kindObject, kindArray:
		if up.depth >= maxDepth {
			return out
		}
	}
	return append(out, push(up, frame{n: n}))
}

// value starts a value of n on b, the parent continuing in after.
func value(c *stack, after frame, n *node, b byte, out []*stack) []*stack {
	after.ws = 0
	parent := with(c, after)
	var starts [8]*stack
	for _, s := range begin(n, parent, starts[:0], 0) {
		out = consume(s, b, out)
	}
	return out
}

// consume appends the stacks c becomes on byte b (none: b is refused).
func consume(c *stack, b byte, out []*stack) []*stack {
	switch c.f.n.kind {
	case kindDocument:
		return document(c, b, out)
	case kindObject:
		return object(c, b, out)
	case kindArray:
		return array(c, b, out)
	case kindString:
		return str(c, b, out)
	case kindNumber, kindInteger:
		return number(c, b, out)
	case kindLiteral:
		return literal(c, b, out)
	}
	return out
}

func document(c *stack, b byte, out []*stack) []*stack {
	if c.f.st != dStart {
		return out
	}
	if out, ws := gap(c, b, out); ws {
		return out
	}
	return value(c, frame{n: c.f.n, st: dDone}, c.f.n.alts[0], b, out)
}

// literal matches one of a node's literals: i is the first literal that
// starts with the k bytes read, and the others that do follow it, so one
// stack follows any number of enum values.
func literal(c *stack, b byte, out []*stack) []*stack {
	f := c.f
	lits, lo, k := f.n.lits, int(f.i), int(f.k)
	prefix := lits[lo][:k]
	first, last := -1, -1
	for j := lo; j < len(lits) && bytes.HasPrefix(lits[j], prefix); j++ {
		if len(lits[j]) > k && lits[j][k] == b {
			if first < 0 {
				first = j
			}
			last = j
		} else if first >= 0 {
			break
		}
	}
	if first < 0 {
		return out
	}
	if len(lits[first]) == k+1 {
		out = append(out, c.up) // a literal ends here
		first++
	}
	if first <= last {
		f.i, f.k = int32(first), int32(k+1)
		out = append(out, with(c, f))
	}
	return out
}

func object(c *stack, b byte, out []*stack) []*stack {
	f, n := c.f, c.f.n
	switch f.st {
	case oOpen:
		if b == '{' {
			return append(out, with(c, frame{n: n, st: oFirst}))
		}
	case oFirst, oNext:
		var ws bool
		if out, ws = gap(c, b, out); ws {
			return out
		}
		if b == '}' && f.st == oFirst && !n.reqFrom[f.i] {
			return append(out, c.up)
		}
		if b == '"' {
			return keys(c, out)
		}
	case oKey:
		key := n.props[f.i].key
		if key[f.k] != b {
			return out
		}
		f.k++
		if int(f.k) == len(key) {
			f.st, f.k, f.ws = oColon, 0, 0
		}
		return append(out, with(c, f))
	case oColon:
		var ws bool
		if out, ws = gap(c, b, out); ws {
			return out
		}
		if b == ':' {
			return append(out, with(c, frame{n: n, st: oValue, i: f.i}))
		}
	case oValue:
		var ws bool
		if out, ws = gap(c, b, out); ws {
			return out
		}
		if int(f.i) < len(n.props) {
			return value(c, frame{n: n, st: oAfter, i: f.i + 1}, n.props[f.i].val, b, out)
		}
		return value(c, frame{n: n, st: oAfter, i: f.i}, n.extra, b, out)
	case oAfter:
		var ws bool
		if out, ws = gap(c, b, out); ws {
			return out
		}
		if b == ',' && canKey(n, f.i) {
			return append(out, with(c, frame{n: n, st: oNext, i: f.i}))
		}
		if b == '}' && !n.reqFrom[f.i] {
			return append(out, c.up)
		}
	}
	return out
}

// keys starts every key that may come next (the opening quote read): the
// declared properties up to the first required one, then free keys once no
// required property is left.
func keys(c *stack, out []*stack) []*stack {
	f, n := c.f, c.f.n
	for j := int(f.i); j < len(n.props); j++ {
		if n.props[j].val.productive {
			out = append(out, with(c, frame{n: n, st: oKey, i: int32(j), k: 1}))
		}
		if n.props[j].required {
			break
		}
	}
	if n.extra != nil && n.extra.productive && !n.reqFrom[f.i] {
		parent := with(c, frame{n: n, st: oColon, i: int32(len(n.props))})
		out = append(out, push(parent, frame{n: keyNode, st: sBody, i: -1}))
	}
	return out
}

func array(c *stack, b byte, out []*stack) []*stack {
	f, n := c.f, c.f.n
	switch f.st {
	case aOpen:
		if b == '[' {
			return append(out, with(c, frame{n: n, st: aFirst}))
		}
	case aFirst, aNext:
		var ws bool
		if out, ws = gap(c, b, out); ws {
			return out
		}
		if b == ']' && f.st == aFirst && n.minItems == 0 {
			return append(out, c.up)
		}
		if n.canItem(f.i) {
			return value(c, frame{n: n, st: aAfter, i: itemCount(n, f.i+1)}, n.item(f.i), b, out)
		}
	case aAfter:
		var ws bool
		if out, ws = gap(c, b, out); ws {
			return out
		}
		if b == ',' && n.canItem(f.i) {
			return append(out, with(c, frame{n: n, st: aNext, i: f.i}))
		}
		if b == ']' && int(f.i) >= n.minItems {
			return append(out, c.up)
		}
	}
	return out
}

// itemCount saturates a count past every bound that reads it, so states that
// differ only in an irrelevant count are one state (one cached mask).
func itemCount(n *node, i int32) int32 {
	return min(i, int32(max(n.minItems, n.maxItems, len(n.prefix))))
}

func charCount(n *node, k int32) int32 {
	return min(k, int32(max(n.minLen, n.maxLen, 0)))
}

func str(c *stack, b byte, out []*stack) []*stack {
	f, n := c.f, c.f.n
	switch f.st {
	case sOpen:
		if b != '"' {
			return out
		}
		if n.re == nil {
			return append(out, with(c, frame{n: n, st: sBody, i: -1}))
		}
		for _, pc := range n.re.start {
			out = append(out, with(c, frame{n: n, st: sBody, i: pc}))
		}
		if n.re.startMatch {
			out = append(out, with(c, frame{n: n, st: sBody, i: -1}))
		}
		return out
	case sBody:
		if f.u != 0 {
			return continuation(c, b, out)
		}
		switch {
		case b == '"':
			if int(f.k) >= n.minLen && (n.re == nil || f.i == -1) {
				return append(out, c.up)
			}
			return out
		case b == '\\':
			if !escapable(f, n) {
				return out
			}
			f.st = sEsc
			return append(out, with(c, f))
		case b < 0x20:
			return out
		case b < 0x80:
			return char(c, rune(b), out)
		case b >= 0xC2 && b <= 0xF4:
			if !roomFor(f, n, []byte{b}) {
				return out
			}
			f.u = uint32(b)
			return append(out, with(c, f))
		}
	case sEsc:
		if r, ok := escapes[b]; ok {
			f.st = sBody
			return char(with(c, f), r, out)
		}
		if b == 'u' && n.re == nil {
			f.st, f.h, f.u = sHex, 0, 0
			return append(out, with(c, f))
		}
	case sHex:
		d, ok := hexDigit(b)
		if !ok {
			return out
		}
		f.u = f.u<<4 | uint32(d)
		f.h++
		// Lone surrogates are refused at their second digit, before a token
		// could commit to an escape with no valid end.
		if f.h == 2 && f.u >= 0xD8 && f.u <= 0xDF {
			return out
		}
		if f.h < 4 {
			return append(out, with(c, f))
		}
		r := rune(f.u)
		f.st, f.h, f.u = sBody, 0, 0
		return char(with(c, f), r, out)
	}
	return out
}

var escapes = map[byte]rune{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

func hexDigit(b byte) (byte, bool) {
	switch {
	case b >= '0' && b <= '9':
		return b - '0', true
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10, true
	case b >= 'A' && b <= 'F':
		return b - 'A' + 10, true
	}
	return 0, false
}

// continuation reads a byte of a multi-byte UTF-8 character; u holds the
// bytes so far, lead byte lowest.
func continuation(c *stack, b byte, out []*stack) []*stack {
	f := c.f
	var buf [4]byte
	nb := 0
	for v := f.u; v != 0; v >>= 8 {
		buf[nb] = byte(v)
		nb++
	}
	buf[nb] = b
	nb++
	p := buf[:nb]
	if utf8.FullRune(p) {
		r, size := utf8.DecodeRune(p)
		if (r == utf8.RuneError && size <= 1) || size != nb {
			return out
		}
		f.u = 0
		return char(with(c, f), r, out)
	}
	if !validPrefix(p) || !roomFor(f, c.f.n, p) {
		return out
	}
	f.u |= uint32(b) << (8 * (nb - 1))
	return append(out, with(c, f))
}

// validPrefix reports whether p can begin a valid UTF-8 character: the
// second byte's range depends on the lead (no overlongs, no surrogates).
func validPrefix(p []byte) bool {
	lo, hi := byte(0x80), byte(0xBF)
	switch p[0] {
	case 0xE0:
		lo = 0xA0
	case 0xED:
		hi = 0x9F
	case 0xF0:
		lo = 0x90
	case 0xF4:
		hi = 0x8F
	}
	if p[1] < lo || p[1] > hi {
		return false
	}
	for _, x := range p[2:] {
		if x < 0x80 || x > 0xBF {
			return false
		}
	}
	return true
}

// char adds one decoded character to a string: its length bounds, then the
// regex thread, which may fork.
func char(c *stack, r rune, out []*stack) []*stack {
	f, n := c.f, c.f.n
	if n.maxLen >= 0 && int(f.k) >= n.maxLen {
		return out
	}
	f.k = charCount(n, f.k+1)
	if n.re == nil {
		return append(out, with(c, f))
	}
	if f.i < 0 || !n.re.accepts(f.i, r) {
		return out
	}
	pc := f.i
	for _, next := range n.re.next[pc] {
		f.i = next
		out = append(out, with(c, f))
	}
	if n.re.nextMatch[pc] {
		f.i = -1
		out = append(out, with(c, f))
	}
	return out
}

func number(c *stack, b byte, out []*stack) []*stack {
	f := c.f
	integer := f.n.kind == kindInteger
	bd := f.n.bounds
	if next, ok := numberStep(f.st, b, integer); ok && numberRoom(f.i, next) && (bd == nil || bd.allows(&f, next, b)) {
		f.st = next
		f.i++
		out = append(out, with(c, f))
	}
	if numberAccepts(c.f.st) && (bd == nil || bd.endsAt(c.f)) {
		// The number may end here: its parent reads b.
		out = consume(c.up, b, out)
	}
	return out
}

// numberRoom keeps a number within maxNumLen, leaving room to finish one that
// is not yet a number ("1e", "-").
func numberRoom(length int32, next uint8) bool {
	if numberAccepts(next) {
		return length < maxNumLen
	}
	return length < maxNumLen-3
}

func numberAccepts(st uint8) bool {
	return st == nZero || st == nInt || st == nFrac || st == nExp
}

func numberStep(st, b byte, integer bool) (uint8, bool) {
	digit := b >= '0' && b <= '9'
	switch st {
	case nStart, nMinus:
		switch {
		case b == '-' && st == nStart:
			return nMinus, true
		case b == '0':
			return nZero, true
		case digit:
			return nInt, true
		}
	case nZero, nInt:
		switch {
		case digit && st == nInt:
			return nInt, true
		case b == '.' && !integer:
			return nDot, true
		case (b == 'e' || b == 'E') && !integer:
			return nE, true
		}
	case nDot, nFrac:
		switch {
		case digit:
			return nFrac, true
		case (b == 'e' || b == 'E') && st == nFrac:
			return nE, true
		}
	case nE:
		switch {
		case b == '+' || b == '-':
			return nESign, true
		case digit:
			return nExp, true
		}
	case nESign, nExp:
		if digit {
			return nExp, true
		}
	}
	return 0, false
}

// roomFor reports whether a string can take a character starting with the
// bytes p: it is under its length bound and its regex thread accepts some
// character so encoded. Checking at every byte keeps a token from stopping
// half-way through a character nothing can complete.
func roomFor(f frame, n *node, p []byte) bool {
	if n.maxLen >= 0 && int(f.k) >= n.maxLen {
		return false
	}
	if n.re == nil {
		return true
	}
	if f.i < 0 {
		return false
	}
	lo, hi := runeInterval(p)
	return n.re.intersects(f.i, lo, hi)
}

// escapable reports whether a backslash may start an escape here: a regex
// string takes the single-letter escapes its thread accepts (no \u, whose
// hex digits the regex cannot see coming).
func escapable(f frame, n *node) bool {
	if n.maxLen >= 0 && int(f.k) >= n.maxLen {
		return false
	}
	if n.re == nil {
		return true
	}
	if f.i < 0 {
		return false
	}
	for _, r := range escapes {
		if n.re.accepts(f.i, r) {
			return true
		}
	}
	return false
}

// runeInterval is the range of characters whose UTF-8 encoding starts with
// the valid prefix p.
func runeInterval(p []byte) (rune, rune) {
	size := 2
	switch {
	case p[0] >= 0xF0:
		size = 4
	case p[0] >= 0xE0:
		size = 3
	}
	lo := append([]byte(nil), p...)
	hi := append([]byte(nil), p...)
	for len(lo) < size {
		l, h := byte(0x80), byte(0xBF)
		if len(lo) == 1 {
			switch p[0] {
			case 0xE0:
				l = 0xA0
			case 0xED:
				h = 0x9F
			case 0xF0:
				l = 0x90
			case 0xF4:
				h = 0x8F
			}
		}
		lo, hi = append(lo, l), append(hi, h)
	}
	a, _ := utf8.DecodeRune(lo)
	z, _ := utf8.DecodeRune(hi)
	return a, z
}
