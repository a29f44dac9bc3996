package tokenizer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decoder is the Rust Decoder::decode_chain: token strings in, token strings out; the
// final text is their concatenation.
type decoder interface {
	decodeChain(tokens []string) []string
}

type decSequence []decoder

func (d decSequence) decodeChain(tokens []string) []string {
	for _, x := range d {
		tokens = x.decodeChain(tokens)
	}
	return tokens
}

// decByteLevel maps byte-level characters back to bytes over the whole sequence; a token
// with any character outside the table is taken as its raw UTF-8 (added tokens).
type decByteLevel struct{}

func (decByteLevel) decodeChain(tokens []string) []string {
	var buf []byte
	for _, t := range tokens {
		buf = appendByteLevelDecoded(buf, t)
	}
	return []string{lossyUTF8(buf)}
}

func appendByteLevelDecoded(buf []byte, t string) []byte {
	start := len(buf)
	for _, r := range t {
		b, ok := runeToByte[r]
		if !ok {
			return append(buf[:start], t...)
		}
		buf = append(buf, b)
	}
	return buf
}

type decReplace struct {
	pat     pattern
	content string
}

func (d decReplace) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		out[i] = d.pat.replaceAll(t, d.content)
	}
	return out
}

// decByteFallback turns runs of <0xXX> tokens into text; a run that is not valid UTF-8
// becomes one U+FFFD per byte, as in the Rust library.
type decByteFallback struct{}

func (decByteFallback) decodeChain(tokens []string) []string {
	out := make([]string, 0, len(tokens))
	var run []byte
	flush := func() {
		if len(run) == 0 {
			return
		}
		if utf8.Valid(run) {
			out = append(out, string(run))
		} else {
			for range run {
				out = append(out, "\uFFFD")
			}
		}
		run = run[:0]
	}
	for _, t := range tokens {
		if b, ok := parseByteToken(t); ok {
			run = append(run, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

// parseByteToken recognises "<0xXX>" like Rust's u8::from_str_radix(&t[3..5], 16), which
// also takes lowercase digits and a leading '+'.
func parseByteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	h := t[3:5]
	if h[0] == '+' {
		h = h[1:]
	}
	if h == "" || h[0] == '+' || h[0] == '-' {
		return 0, false
	}
	v, err := strconv.ParseUint(h, 16, 8)
	if err != nil {
		return 0, false
	}
	return byte(v), true
}

type decFuse struct{}

func (decFuse) decodeChain(tokens []string) []string {
	return []string{strings.Join(tokens, "")}
}

// decStrip removes up to start leading and stop trailing copies of one character per token.
type decStrip struct {
	content     rune
	start, stop int
}

func (d decStrip) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		rs := []rune(t)
		lo := 0
		for lo < d.start && lo < len(rs) && rs[lo] == d.content {
			lo++
		}
		hi := len(rs)
		for n := 0; n < d.stop && hi > 0 && rs[hi-1] == d.content; n++ {
			hi--
		}
		if hi < lo {
			hi = lo
		}
		out[i] = string(rs[lo:hi])
	}
	return out
}

// decMetaspace turns the replacement character back into spaces, dropping it entirely in
// the first token unless the prepend scheme is "never" (the Rust behaviour).
type decMetaspace struct {
	replacement rune
	scheme      prependScheme
}

func (d decMetaspace) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		var sb strings.Builder
		for _, r := range t {
			if r != d.replacement {
				sb.WriteRune(r)
			} else if i != 0 || d.scheme == prependNever {
				sb.WriteByte(' ')
			}
		}
		out[i] = sb.String()
	}
	return out
}

func parseDecoder(raw json.RawMessage) (decoder, error) {
	if isNull(raw) {
		return nil, nil
	}
	var t typed
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	switch t.Type {
	case "Sequence":
		var v struct {
			Decoders []json.RawMessage `json:"decoders"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("decoder Sequence: %w", err)
		}
		seq := decSequence{}
		for _, r := range v.Decoders {
			d, err := parseDecoder(r)
			if err != nil {
				return nil, err
			}
			if d != nil {
				seq = append(seq, d)
			}
		}
		return seq, nil
	case "ByteLevel":
		return decByteLevel{}, nil
	case "ByteFallback":
		return decByteFallback{}, nil
	case "Fuse":
		return decFuse{}, nil
	case "Replace":
		var v struct {
			Pattern json.RawMessage `json:"pattern"`
			Content string          `json:"content"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("decoder Replace: %w", err)
		}
		p, err := parsePattern(v.Pattern)
		if err != nil {
			return nil, fmt.Errorf("decoder Replace: %w", err)
		}
		return decReplace{pat: p, content: v.Content}, nil
	case "Strip":
		var v struct {
			Content string `json:"content"`
			Start   int    `json:"start"`
			Stop    int    `json:"stop"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("decoder Strip: %w", err)
		}
		if utf8.RuneCountInString(v.Content) != 1 || v.Start < 0 || v.Stop < 0 {
			return nil, fmt.Errorf("decoder Strip: bad content %q or counts %d/%d", v.Content, v.Start, v.Stop)
		}
		r, _ := utf8.DecodeRuneInString(v.Content)
		return decStrip{content: r, start: v.Start, stop: v.Stop}, nil
	case "Metaspace":
		m, err := parseMetaspace(raw)
		if err != nil {
			return nil, fmt.Errorf("decoder Metaspace: %w", err)
		}
		r, _ := utf8.DecodeRuneInString(m.replacement)
		return decMetaspace{replacement: r, scheme: m.scheme}, nil
	}
	return nil, fmt.Errorf("unsupported decoder type %q", t.Type)
}

func hasByteFallback(d decoder) bool {
	switch x := d.(type) {
	case decByteFallback:
		return true
	case decSequence:
		for _, y := range x {
			if hasByteFallback(y) {
				return true
			}
		}
	}
	return false
}
