package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// byteToRune is GPT-2's reversible byte-to-character table: printable Latin-1 bytes map to
// themselves, the rest to U+0100 upwards, so every byte sequence becomes visible text.
var byteToRune, runeToByte = buildByteTables()

func buildByteTables() ([256]rune, map[rune]byte) {
	var fwd [256]rune
	rev := make(map[rune]byte, 256)
	printable := func(b int) bool {
		return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
	}
	n := 0
	for b := 0; b < 256; b++ {
		r := rune(b)
		if !printable(b) {
			r = rune(256 + n)
			n++
		}
		fwd[b] = r
		rev[r] = byte(b)
	}
	return fwd, rev
}

// byteLevelEncode maps every byte of s to its byte-level character.
func byteLevelEncode(s string) string {
	var sb strings.Builder
	sb.Grow(len(s) * 2)
	for i := 0; i < len(s); i++ {
		sb.WriteRune(byteToRune[s[i]])
	}
	return sb.String()
}

// lossyUTF8 converts b to a string the way Rust's String::from_utf8_lossy does: each
// maximal invalid subpart becomes one U+FFFD. Go's own conversions differ (one U+FFFD per
// byte, or per run), and the decoded text must match the Rust library byte for byte.
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			sb.Write(b[i : i+size])
			i += size
			continue
		}
		sb.WriteRune(utf8.RuneError)
		i += maximalSubpart(b[i:])
	}
	return sb.String()
}

// maximalSubpart returns how many bytes at the start of p (which begins an invalid
// sequence) form one maximal subpart of an ill-formed UTF-8 sequence (Unicode 3.9, D93b).
func maximalSubpart(p []byte) int {
	c := p[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	i := 1
	if i >= len(p) || p[i] < lo || p[i] > hi {
		return i
	}
	i++
	for ; i <= need && i < len(p); i++ {
		if p[i] < 0x80 || p[i] > 0xBF {
			return i
		}
	}
	return i
}
