package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// piece is a pre-token: text the model will see as one word.
type piece struct {
	text    string
	atStart bool // starts at offset 0 of the original input
}

// preTokenizer splits each piece further, like PreTokenizedString::split in the Rust
// library; empty results are dropped by the caller.
type preTokenizer interface {
	split(p piece, out []piece) []piece
}

func runPreTokenizer(pt preTokenizer, ps []piece) []piece {
	out := make([]piece, 0, len(ps)*2)
	for _, p := range ps {
		out = pt.split(p, out)
	}
	return dropEmpty(out)
}

func dropEmpty(ps []piece) []piece {
	out := ps[:0]
	for _, p := range ps {
		if p.text != "" {
			out = append(out, p)
		}
	}
	return out
}

type preSequence []preTokenizer

func (s preSequence) split(p piece, out []piece) []piece {
	ps := []piece{p}
	for _, pt := range s {
		ps = runPreTokenizer(pt, ps)
	}
	return append(out, ps...)
}

// behavior is SplitDelimiterBehavior.
type behavior int

const (
	behRemoved behavior = iota
	behIsolated
	behMergedWithPrevious
	behMergedWithNext
	behContiguous
)

func parseBehavior(s string) (behavior, error) {
	switch s {
	case "Removed":
		return behRemoved, nil
	case "Isolated":
		return behIsolated, nil
	case "MergedWithPrevious":
		return behMergedWithPrevious, nil
	case "MergedWithNext":
		return behMergedWithNext, nil
	case "Contiguous":
		return behContiguous, nil
	}
	return 0, fmt.Errorf("unknown split behavior %q", s)
}

type span struct {
	start, end int
	match      bool
}

// spansFromMatches covers s with alternating non-match/match spans (Pattern::find_matches).
func spansFromMatches(s string, ms [][2]int) []span {
	if s == "" {
		return []span{{0, 0, false}}
	}
	out := make([]span, 0, 2*len(ms)+1)
	prev := 0
	for _, m := range ms {
		if prev != m[0] {
			out = append(out, span{prev, m[0], false})
		}
		out = append(out, span{m[0], m[1], true})
		prev = m[1]
	}
	if prev != len(s) {
		out = append(out, span{prev, len(s), false})
	}
	return out
}

// applyBehavior is NormalizedString::split's handling of matched delimiters.
func applyBehavior(spans []span, b behavior) []span {
	var out []span
	switch b {
	case behIsolated:
		return spans
	case behRemoved:
		for _, sp := range spans {
			if !sp.match {
				out = append(out, sp)
			}
		}
	case behMergedWithPrevious:
		prevMatch := false
		for _, sp := range spans {
			if sp.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].end = sp.end
			} else {
				out = append(out, span{sp.start, sp.end, false})
			}
			prevMatch = sp.match
		}
	case behMergedWithNext:
		prevMatch := false
		for i := len(spans) - 1; i >= 0; i-- {
			sp := spans[i]
			if sp.match && !prevMatch && len(out) > 0 {
				out[len(out)-1].start = sp.start
			} else {
				out = append(out, span{sp.start, sp.end, false})
			}
			prevMatch = sp.match
		}
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	case behContiguous:
		prevMatch := false
		for _, sp := range spans {
			if sp.match == prevMatch && len(out) > 0 {
				out[len(out)-1].end = sp.end
			} else {
				out = append(out, span{sp.start, sp.end, false})
			}
			prevMatch = sp.match
		}
	}
	return out
}

func emitSpans(p piece, spans []span, out []piece) []piece {
	for _, sp := range spans {
		out = append(out, piece{text: p.text[sp.start:sp.end], atStart: p.atStart && sp.start == 0})
	}
	return out
}

type preSplit struct {
	pat    pattern
	beh    behavior
	invert bool
}

func (s preSplit) split(p piece, out []piece) []piece {
	spans := spansFromMatches(p.text, s.pat.matches(p.text))
	if s.invert {
		for i := range spans {
			spans[i].match = !spans[i].match
		}
	}
	return emitSpans(p, applyBehavior(spans, s.beh), out)
}

// charSpans is find_matches for a character predicate: every matching char is its own match.
func charSpans(s string, pred func(rune) bool) []span {
	if s == "" {
		return []span{{0, 0, false}}
	}
	var out []span
	last := 0
	for i, r := range s {
		if pred(r) {
			if last < i {
				out = append(out, span{last, i, false})
			}
			end := i + utf8.RuneLen(r)
			out = append(out, span{i, end, true})
			last = end
		}
	}
	if last < len(s) {
		out = append(out, span{last, len(s), false})
	}
	return out
}

// preDigits isolates numeric characters; Rust's char::is_numeric is Unicode N (Nd, Nl, No),
// not just ASCII digits.
type preDigits struct{ individual bool }

func (d preDigits) split(p piece, out []piece) []piece {
	b := behContiguous
	if d.individual {
		b = behIsolated
	}
	return emitSpans(p, applyBehavior(charSpans(p.text, unicode.IsNumber), b), out)
}

type preWhitespaceSplit struct{}

func (preWhitespaceSplit) split(p piece, out []piece) []piece {
	return emitSpans(p, applyBehavior(charSpans(p.text, isWhiteSpace), behRemoved), out)
}

// gpt2Pattern is the ByteLevel pre-tokenizer's built-in regex.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

type preByteLevel struct {
	addPrefixSpace bool
	useRegex       bool
	re             pattern
}

func (b preByteLevel) split(p piece, out []piece) []piece {
	text := p.text
	if b.addPrefixSpace && !strings.HasPrefix(text, " ") {
		text = " " + text
	}
	if !b.useRegex {
		return append(out, piece{text: byteLevelEncode(text), atStart: p.atStart})
	}
	q := piece{text: text, atStart: p.atStart}
	spans := spansFromMatches(text, b.re.matches(text))
	for _, sp := range spans {
		if sp.start == sp.end {
			continue
		}
		out = append(out, piece{text: byteLevelEncode(text[sp.start:sp.end]), atStart: q.atStart && sp.start == 0})
	}
	return out
}

type prependScheme int

const (
	prependAlways prependScheme = iota
	prependNever
	prependFirst
)

type preMetaspace struct {
	replacement string
	scheme      prependScheme
	splitOnRep  bool
}

func (m preMetaspace) split(p piece, out []piece) []piece {
	text := strings.ReplaceAll(p.text, " ", m.replacement)
	if !strings.HasPrefix(text, m.replacement) {
		if m.scheme == prependAlways || (m.scheme == prependFirst && p.atStart) {
			text = m.replacement + text
		}
	}
	q := piece{text: text, atStart: p.atStart}
	if !m.splitOnRep {
		return append(out, q)
	}
	spans := spansFromMatches(text, literalMatches(text, m.replacement))
	return emitSpans(q, applyBehavior(spans, behMergedWithNext), out)
}

func parsePreTokenizer(raw json.RawMessage) (preTokenizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var t typed
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	switch t.Type {
	case "Sequence":
		var v struct {
			Pretokenizers []json.RawMessage `json:"pretokenizers"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer Sequence: %w", err)
		}
		seq := preSequence{}
		for _, r := range v.Pretokenizers {
			p, err := parsePreTokenizer(r)
			if err != nil {
				return nil, err
			}
			if p != nil {
				seq = append(seq, p)
			}
		}
		return seq, nil
	case "ByteLevel":
		v := struct {
			AddPrefixSpace *bool `json:"add_prefix_space"`
			UseRegex       *bool `json:"use_regex"`
		}{}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer ByteLevel: %w", err)
		}
		b := preByteLevel{addPrefixSpace: boolOr(v.AddPrefixSpace, true), useRegex: boolOr(v.UseRegex, true)}
		if b.useRegex {
			re, err := compileRegex(gpt2Pattern)
			if err != nil {
				return nil, err
			}
			b.re = pattern{re: re}
		}
		return b, nil
	case "Split":
		var v struct {
			Pattern  json.RawMessage `json:"pattern"`
			Behavior string          `json:"behavior"`
			Invert   bool            `json:"invert"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer Split: %w", err)
		}
		p, err := parsePattern(v.Pattern)
		if err != nil {
			return nil, fmt.Errorf("pre_tokenizer Split: %w", err)
		}
		b, err := parseBehavior(v.Behavior)
		if err != nil {
			return nil, fmt.Errorf("pre_tokenizer Split: %w", err)
		}
		return preSplit{pat: p, beh: b, invert: v.Invert}, nil
	case "Digits":
		var v struct {
			Individual bool `json:"individual_digits"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer Digits: %w", err)
		}
		return preDigits{individual: v.Individual}, nil
	case "WhitespaceSplit":
		return preWhitespaceSplit{}, nil
	case "Metaspace":
		m, err := parseMetaspace(raw)
		if err != nil {
			return nil, fmt.Errorf("pre_tokenizer Metaspace: %w", err)
		}
		return m, nil
	}
	return nil, fmt.Errorf("unsupported pre_tokenizer type %q", t.Type)
}

func parseMetaspace(raw json.RawMessage) (preMetaspace, error) {
	var v struct {
		Replacement    string  `json:"replacement"`
		AddPrefixSpace *bool   `json:"add_prefix_space"`
		PrependScheme  *string `json:"prepend_scheme"`
		Split          *bool   `json:"split"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return preMetaspace{}, err
	}
	if utf8.RuneCountInString(v.Replacement) != 1 {
		return preMetaspace{}, fmt.Errorf("replacement %q must be one character", v.Replacement)
	}
	m := preMetaspace{replacement: v.Replacement, splitOnRep: boolOr(v.Split, true)}
	switch {
	case v.PrependScheme != nil:
		switch *v.PrependScheme {
		case "always":
			m.scheme = prependAlways
		case "never":
			m.scheme = prependNever
		case "first":
			m.scheme = prependFirst
		default:
			return preMetaspace{}, fmt.Errorf("unknown prepend_scheme %q", *v.PrependScheme)
		}
	case v.AddPrefixSpace != nil && !*v.AddPrefixSpace:
		m.scheme = prependNever
	}
	return m, nil
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}
