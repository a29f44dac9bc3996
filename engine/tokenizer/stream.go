package tokenizer

import (
	"fmt"
	"strings"
)

// StreamDecoder turns ids into text one id at a time, emitting only text that later ids
// cannot change. It follows the Rust library's DecodeStream: it re-decodes a short window
// of recent ids and emits what the window added beyond the text it already produced, and
// holds back output that ends in U+FFFD (a character still missing bytes).
type StreamDecoder struct {
	t           *Tokenizer
	skipSpecial bool
	ids         []int32
	prefix      string // decoding of ids[:prefixIndex] ... of the whole window once emitted
	prefixIndex int
	openBytes   bool // the last visible token is a <0xXX> byte token under ByteFallback
}

// NewStreamDecoder starts a stream. The concatenation of all Push results and Flush equals
// Decode of all pushed ids.
func (t *Tokenizer) NewStreamDecoder(skipSpecial bool) *StreamDecoder {
	return &StreamDecoder{t: t, skipSpecial: skipSpecial}
}

// Push adds one id and returns the text that became certain (often "").
func (d *StreamDecoder) Push(id int32) (string, error) {
	if !d.t.valid(id) {
		return "", fmt.Errorf("tokenizer: id %d not in vocabulary", id)
	}
	d.ids = append(d.ids, id)
	if !d.skipSpecial || !d.t.special[id] {
		_, isByte := parseByteToken(d.t.idToToken[id])
		d.openBytes = isByte && d.t.byteFallback
	}
	// A ByteFallback run that is invalid UTF-8 turns into one U+FFFD per byte, which
	// rewrites bytes already decoded: nothing is certain until the run ends.
	if d.openBytes {
		return "", nil
	}
	s, err := d.t.Decode(d.ids, d.skipSpecial)
	if err != nil {
		return "", err
	}
	if len(s) <= len(d.prefix) || strings.HasSuffix(s, "\uFFFD") {
		return "", nil
	}
	return d.advance(s)
}

// advance emits s beyond the prefix and slides the window to start at the ids that
// produced it, so that decoding stays cheap on long streams.
func (d *StreamDecoder) advance(s string) (string, error) {
	if !strings.HasPrefix(s, d.prefix) {
		return "", fmt.Errorf("tokenizer: stream decode diverged: %q does not extend %q", s, d.prefix)
	}
	delta := s[len(d.prefix):]
	d.ids = append(d.ids[:0], d.ids[d.prefixIndex:]...)
	p, err := d.t.Decode(d.ids, d.skipSpecial)
	if err != nil {
		return "", err
	}
	d.prefix, d.prefixIndex = p, len(d.ids)
	return delta, nil
}

// Flush returns any text held back (an incomplete character decodes as U+FFFD, as in
// Decode) and resets nothing: further Push calls continue the same stream.
func (d *StreamDecoder) Flush() (string, error) {
	s, err := d.t.Decode(d.ids, d.skipSpecial)
	if err != nil {
		return "", err
	}
	if len(s) <= len(d.prefix) {
		if s != d.prefix {
			return "", fmt.Errorf("tokenizer: stream decode diverged at flush: %q vs %q", s, d.prefix)
		}
		return "", nil
	}
	return d.advance(s)
}
