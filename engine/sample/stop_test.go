package sample

import (
	"strings"
	"testing"
)

type push struct {
	delta   string
	emit    string
	stopped bool
}

func runPushes(t *testing.T, m *StopMatcher, steps []push, flush string) {
	t.Helper()
	for i, s := range steps {
		emit, stopped := m.Push(s.delta)
		if emit != s.emit || stopped != s.stopped {
			t.Fatalf("push %d %q: got (%q, %v), want (%q, %v)", i, s.delta, emit, stopped, s.emit, s.stopped)
		}
	}
	if got := m.Flush(); got != flush {
		t.Fatalf("flush: got %q, want %q", got, flush)
	}
}

func TestStopSpansDeltas(t *testing.T) {
	runPushes(t, NewStopMatcher([]string{"</s>"}), []push{
		{"Hello <", "Hello ", false},
		{"/", "", false},
		{"s", "", false},
		{"> more", "", true},
		{"ignored", "", true},
	}, "")
}

func TestStopIncludedInOutput(t *testing.T) {
	runPushes(t, NewStopMatcher([]string{"END"}, IncludeStop()), []push{
		{"abc E", "abc ", false},
		{"NDxyz", "END", true},
	}, "")
}

func TestStopOverlappingCandidates(t *testing.T) {
	// "ab" completes before "abc" can, so it wins.
	runPushes(t, NewStopMatcher([]string{"abc", "ab"}), []push{
		{"xa", "x", false},
		{"bc", "", true},
	}, "")
	// With only "abc", "ab" is held until the text diverges.
	runPushes(t, NewStopMatcher([]string{"abc"}), []push{
		{"xab", "x", false},
		{"d", "abd", false},
	}, "")
	// Equal ends: the earlier start wins, so less text is emitted.
	runPushes(t, NewStopMatcher([]string{"bc", "abc"}), []push{
		{"zabc", "z", true},
	}, "")
}

func TestStopPartialMatchReleased(t *testing.T) {
	runPushes(t, NewStopMatcher([]string{"###"}), []push{
		{"a#", "a", false},
		{"#", "", false},
		{"b", "##b", false},
		{"##", "", false},
	}, "##")
}

// After "aaa" only the last "aa" can still become "aab": the first "a" is
// released and the stop then matches at the held text's start.
func TestStopSelfOverlap(t *testing.T) {
	runPushes(t, NewStopMatcher([]string{"aab"}), []push{
		{"a", "", false},
		{"a", "", false},
		{"a", "a", false},
		{"b", "", true},
	}, "")
}

func TestStopMultiByte(t *testing.T) {
	// "終了" is six bytes; a detokenizer may hand it over split mid-character.
	stop := "終了"
	b := []byte("結果は終了です")
	runPushes(t, NewStopMatcher([]string{stop}), []push{
		{string(b[:9]), "結果は", false},
		{string(b[9:11]), "", false},
		{string(b[11:14]), "", false},
		{string(b[14:]), "", true},
	}, "")
	// "終わり" shares its first character with the stop, then diverges.
	runPushes(t, NewStopMatcher([]string{stop}), []push{
		{"終", "", false},
		{"わり🙂", "終わり🙂", false},
	}, "")
}

func TestStopSeveralStrings(t *testing.T) {
	runPushes(t, NewStopMatcher([]string{"\n\n", "User:", ""}), []push{
		{"Hi.\n", "Hi.", false},
		{"Use", "\n", false},
		{"r: x", "", true},
	}, "")
	// No stop strings at all: everything passes through.
	runPushes(t, NewStopMatcher(nil), []push{{"a", "a", false}, {"b", "b", false}}, "")
}

func TestStopFlushWithoutStop(t *testing.T) {
	m := NewStopMatcher([]string{"STOP"})
	runPushes(t, m, []push{{"the end ST", "the end ", false}}, "ST")
	if m.Stopped() {
		t.Error("Stopped after a flush without a stop")
	}
	if got := m.Flush(); got != "" {
		t.Errorf("second flush %q", got)
	}
}

// refStopPrefix is the text a client should see: everything before the stop
// occurrence that ends first (earliest start among equal ends).
func refStopPrefix(text string, stops []string, include bool) (string, bool) {
	for end := 1; end <= len(text); end++ {
		best := -1
		for _, s := range stops {
			if s != "" && end >= len(s) && text[end-len(s):end] == s {
				if best < 0 || end-len(s) < best {
					best = end - len(s)
				}
			}
		}
		if best >= 0 {
			if include {
				return text[:end], true
			}
			return text[:best], true
		}
	}
	return text, false
}

func FuzzStopMatcher(f *testing.F) {
	f.Add("Hello </s> world", "</s>", "", []byte{3, 1, 1, 2}, false)
	f.Add("xabcd", "abc", "ab", []byte{2, 1}, true)
	f.Add("aaab", "aab", "b", []byte{1}, false)
	f.Add("結果は終了です", "終了", "了で", []byte{4, 2, 7}, false)
	f.Add("####", "###", "##x", []byte{1, 1, 1, 1}, true)
	f.Fuzz(func(t *testing.T, text, stop1, stop2 string, cuts []byte, include bool) {
		stops := []string{stop1, stop2}
		var opts []StopOption
		if include {
			opts = append(opts, IncludeStop())
		}
		m := NewStopMatcher(stops, opts...)
		var out strings.Builder
		rest, stopped := text, false
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if i < len(cuts) {
				n = min(n, int(cuts[i])%8+1)
			}
			emit, s := m.Push(rest[:n])
			out.WriteString(emit)
			if stopped && (emit != "" || !s) {
				t.Fatalf("after stopping, Push returned (%q, %v)", emit, s)
			}
			stopped = stopped || s
			rest = rest[n:]
		}
		out.WriteString(m.Flush())
		want, wantStop := refStopPrefix(text, stops, include)
		if out.String() != want || stopped != wantStop {
			t.Fatalf("stops %q in %q: got (%q, %v), want (%q, %v)", stops, text, out.String(), stopped, want, wantStop)
		}
	})
}
