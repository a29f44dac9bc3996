package tokenizer

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites one text segment before pre-tokenization.
type normalizer interface {
	normalize(s string) string
}

type normSequence []normalizer

func (n normSequence) normalize(s string) string {
	for _, x := range n {
		s = x.normalize(s)
	}
	return s
}

// normPrepend adds its text to non-empty segments only, as the Rust Prepend does.
type normPrepend string

func (n normPrepend) normalize(s string) string {
	if s == "" {
		return s
	}
	return string(n) + s
}

type normReplace struct {
	pat     pattern
	content string
}

func (n normReplace) normalize(s string) string { return n.pat.replaceAll(s, n.content) }

type normUnicode struct{ form norm.Form }

func (n normUnicode) normalize(s string) string { return n.form.String(s) }

type normLowercase struct{}

// normalize lowercases per character with full mappings (Rust's char::to_lowercase), where
// U+0130 becomes "i̇" rather than Go's simple "i".
func (normLowercase) normalize(s string) string {
	var sb strings.Builder
	sb.Grow(len(s))
	for _, r := range s {
		if r == '\u0130' {
			sb.WriteString("i\u0307")
			continue
		}
		sb.WriteRune(unicode.ToLower(r))
	}
	return sb.String()
}

type normStrip struct{ left, right bool }

func (n normStrip) normalize(s string) string {
	if n.left {
		s = strings.TrimLeftFunc(s, isWhiteSpace)
	}
	if n.right {
		s = strings.TrimRightFunc(s, isWhiteSpace)
	}
	return s
}

// isWhiteSpace is Unicode White_Space, which is what Rust's char::is_whitespace, Rust regex
// \s and Oniguruma \s use; Go's unicode.IsSpace is defined as exactly that set.
func isWhiteSpace(r rune) bool { return unicode.IsSpace(r) }

func lastRune(s string) (rune, int) { return utf8.DecodeLastRuneInString(s) }

type typed struct {
	Type string `json:"type"`
}

func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var t typed
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	switch t.Type {
	case "Sequence":
		var v struct {
			Normalizers []json.RawMessage `json:"normalizers"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("normalizer Sequence: %w", err)
		}
		seq := normSequence{}
		for _, r := range v.Normalizers {
			n, err := parseNormalizer(r)
			if err != nil {
				return nil, err
			}
			if n != nil {
				seq = append(seq, n)
			}
		}
		return seq, nil
	case "Prepend":
		var v struct {
			Prepend string `json:"prepend"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("normalizer Prepend: %w", err)
		}
		return normPrepend(v.Prepend), nil
	case "Replace":
		var v struct {
			Pattern json.RawMessage `json:"pattern"`
			Content string          `json:"content"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("normalizer Replace: %w", err)
		}
		p, err := parsePattern(v.Pattern)
		if err != nil {
			return nil, fmt.Errorf("normalizer Replace: %w", err)
		}
		return normReplace{pat: p, content: v.Content}, nil
	case "NFC":
		return normUnicode{norm.NFC}, nil
	case "NFD":
		return normUnicode{norm.NFD}, nil
	case "NFKC":
		return normUnicode{norm.NFKC}, nil
	case "NFKD":
		return normUnicode{norm.NFKD}, nil
	case "Lowercase":
		return normLowercase{}, nil
	case "Strip":
		var v struct {
			Left  bool `json:"strip_left"`
			Right bool `json:"strip_right"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("normalizer Strip: %w", err)
		}
		return normStrip{v.Left, v.Right}, nil
	}
	return nil, fmt.Errorf("unsupported normalizer type %q", t.Type)
}

// pattern is tokenizer.json's {"String": ...} or {"Regex": ...}.
type pattern struct {
	lit string
	re  *regexp2.Regexp // nil for a literal
}

func parsePattern(raw json.RawMessage) (pattern, error) {
	var v struct {
		String *string `json:"String"`
		Regex  *string `json:"Regex"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return pattern{}, fmt.Errorf("pattern: %w", err)
	}
	switch {
	case v.String != nil:
		return pattern{lit: *v.String}, nil
	case v.Regex != nil:
		re, err := compileRegex(*v.Regex)
		if err != nil {
			return pattern{}, err
		}
		return pattern{re: re}, nil
	}
	return pattern{}, fmt.Errorf("pattern needs String or Regex")
}

func compileRegex(expr string) (*regexp2.Regexp, error) {
	re, err := regexp2.Compile(expr, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", expr, err)
	}
	return re, nil
}

// matches returns the byte ranges of all non-overlapping matches, leftmost first.
func (p pattern) matches(s string) [][2]int {
	if p.re == nil {
		return literalMatches(s, p.lit)
	}
	return regexMatches(p.re, s)
}

func literalMatches(s, lit string) [][2]int {
	if lit == "" {
		return nil
	}
	var out [][2]int
	for off := 0; ; {
		i := strings.Index(s[off:], lit)
		if i < 0 {
			return out
		}
		out = append(out, [2]int{off + i, off + i + len(lit)})
		off += i + len(lit)
	}
}

// regexMatches runs re over s; regexp2 works in runes, so offsets are mapped back to bytes.
func regexMatches(re *regexp2.Regexp, s string) [][2]int {
	if s == "" {
		return nil
	}
	runes := []rune(s)
	byteOff := make([]int, len(runes)+1)
	for i, r := range runes {
		byteOff[i+1] = byteOff[i] + utf8.RuneLen(r)
	}
	var out [][2]int
	m, err := re.FindRunesMatch(runes)
	for err == nil && m != nil {
		out = append(out, [2]int{byteOff[m.Index], byteOff[m.Index+m.Length]})
		m, err = re.FindNextMatch(m)
	}
	return out
}

func (p pattern) replaceAll(s, content string) string {
	if p.re == nil {
		if p.lit == "" {
			return s
		}
		return strings.ReplaceAll(s, p.lit, content)
	}
	var sb strings.Builder
	prev := 0
	for _, m := range regexMatches(p.re, s) {
		sb.WriteString(s[prev:m[0]])
		sb.WriteString(content)
		prev = m[1]
	}
	sb.WriteString(s[prev:])
	return sb.String()
}

func isNull(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return s == "" || s == "null"
}
