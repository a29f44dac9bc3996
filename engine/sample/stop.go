package sample

import "strings"

// StopMatcher cuts streamed text at the first stop string. It holds back any
// tail of the text that could still grow into a stop string, so a stop that
// spans several tokens is never partly emitted.
//
// "First" means the occurrence that completes earliest in the text, as
// generation would stop at it; among those completing at the same byte, the
// one starting earliest. Matching is on bytes; valid UTF-8 stop strings
// only match at character boundaries of valid UTF-8 text.
type StopMatcher struct {
	stops       []string
	includeStop bool
	held        string
	stopped     bool
}

// StopOption configures a StopMatcher.
type StopOption func(*StopMatcher)

// IncludeStop makes the matcher emit the stop string itself before stopping
// (vLLM's include_stop_str_in_output).
func IncludeStop() StopOption {
	return func(m *StopMatcher) { m.includeStop = true }
}

// NewStopMatcher returns a matcher for stops. Empty stop strings are ignored:
// they would match before any text.
func NewStopMatcher(stops []string, opts ...StopOption) *StopMatcher {
	m := &StopMatcher{}
	for _, s := range stops {
		if s != "" {
			m.stops = append(m.stops, s)
		}
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Push adds the next piece of generated text and returns the text that is now
// safe to send. When a stop string completes it returns the text before it
// (and the stop string, with IncludeStop) and stopped; after that Push
// returns ("", true) and ignores its input.
func (m *StopMatcher) Push(delta string) (emit string, stopped bool) {
	if m.stopped {
		return "", true
	}
	text := m.held + delta
	if start, end, ok := m.firstStop(text); ok {
		m.held, m.stopped = "", true
		if m.includeStop {
			return text[:end], true
		}
		return text[:start], true
	}
	keep := m.partialTail(text)
	m.held = text[len(text)-keep:]
	return text[:len(text)-keep], false
}

// Flush returns the held-back text once generation ends without a stop.
func (m *StopMatcher) Flush() string {
	h := m.held
	m.held = ""
	return h
}

// Stopped reports whether a stop string has been seen.
func (m *StopMatcher) Stopped() bool { return m.stopped }

// firstStop finds the stop occurrence that ends first. Held text never holds
// a whole stop and emitted text never starts one, so searching held+delta
// finds every candidate.
func (m *StopMatcher) firstStop(text string) (start, end int, ok bool) {
	for _, s := range m.stops {
		i := strings.Index(text, s)
		if i < 0 {
			continue
		}
		e := i + len(s)
		if !ok || e < end || (e == end && i < start) {
			start, end, ok = i, e, true
		}
	}
	return start, end, ok
}

// partialTail returns the length of the longest suffix of text that is a
// proper prefix of some stop string.
func (m *StopMatcher) partialTail(text string) int {
	best := 0
	for _, s := range m.stops {
		for k := min(len(s)-1, len(text)); k > best; k-- {
			if strings.HasSuffix(text, s[:k]) {
				best = k
				break
			}
		}
	}
	return best
}
