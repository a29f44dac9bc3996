package tokenizer

import (
	"regexp"
	"sort"
)

// AddedToken is one entry of tokenizer.json's added_tokens.
type addedToken struct {
	ID         int32  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// matcher finds added tokens leftmost-longest, like the aho-corasick automaton
// (MatchKind::LeftmostLongest) the Rust library builds.
type matcher struct {
	byFirst  map[byte][]int // pattern indices, longest first
	patterns []string
	tokens   []*addedToken
}

func newMatcher(patterns []string, tokens []*addedToken) *matcher {
	m := &matcher{byFirst: map[byte][]int{}, patterns: patterns, tokens: tokens}
	for i, p := range patterns {
		if p == "" {
			continue
		}
		m.byFirst[p[0]] = append(m.byFirst[p[0]], i)
	}
	for _, idx := range m.byFirst {
		sort.SliceStable(idx, func(a, b int) bool { return len(patterns[idx[a]]) > len(patterns[idx[b]]) })
	}
	return m
}

func (m *matcher) empty() bool { return len(m.byFirst) == 0 }

// next returns the leftmost-longest match at or after from, or ok=false.
func (m *matcher) next(s string, from int) (start, end, pat int, ok bool) {
	for i := from; i < len(s); i++ {
		for _, p := range m.byFirst[s[i]] {
			pt := m.patterns[p]
			if len(s)-i >= len(pt) && s[i:i+len(pt)] == pt {
				return i, i + len(pt), p, true
			}
		}
	}
	return 0, 0, 0, false
}

// Rust-regex word/space classes used by single_word, lstrip and rstrip.
var (
	startsWithWord = regexp.MustCompile(`^[\p{L}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}]`)
	endsWithWord   = regexp.MustCompile(`[\p{L}\p{M}\p{Nd}\p{Pc}\x{200C}\x{200D}]$`)
)

// segment is a piece of the input: either text still to tokenize or one added token.
type segment struct {
	text    string
	id      int32 // -1 for text
	atStart bool  // begins at offset 0 of the original input (Metaspace prepend_scheme "first")
}

// split is AddedVocabulary::find_matches: it cuts s around added-token matches, honouring
// single_word, lstrip and rstrip; a discarded single_word match still consumes its text in
// the scan, as aho-corasick's iterator does.
func (m *matcher) split(s string, atStart bool, out []segment) []segment {
	if s == "" {
		return out
	}
	if m.empty() {
		return append(out, segment{text: s, id: -1, atStart: atStart})
	}
	startOffset, pos := 0, 0
	for {
		start, stop, p, ok := m.next(s, pos)
		if !ok {
			break
		}
		pos = stop
		tok := m.tokens[p]
		if tok.SingleWord {
			startSpace := start == 0 || !endsWithWord.MatchString(s[:start])
			stopSpace := stop == len(s) || !startsWithWord.MatchString(s[stop:])
			if !startSpace || !stopSpace {
				continue
			}
		}
		if tok.LStrip {
			start = max(trailingSpaceStart(s[:start]), startOffset)
		}
		if tok.RStrip {
			stop += leadingSpaceLen(s[stop:])
		}
		if startOffset < start {
			out = append(out, segment{text: s[startOffset:start], id: -1, atStart: atStart && startOffset == 0})
		}
		out = append(out, segment{text: s[start:stop], id: tok.ID})
		startOffset = stop
	}
	if startOffset < len(s) {
		out = append(out, segment{text: s[startOffset:], id: -1, atStart: atStart && startOffset == 0})
	}
	return out
}

func trailingSpaceStart(s string) int {
	i := len(s)
	for i > 0 {
		r, size := lastRune(s[:i])
		if !isWhiteSpace(r) {
			break
		}
		i -= size
	}
	return i
}

func leadingSpaceLen(s string) int {
	n := 0
	for _, r := range s {
		if !isWhiteSpace(r) {
			break
		}
		n += len(string(r))
	}
	return n
}
