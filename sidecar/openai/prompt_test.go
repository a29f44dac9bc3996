package openai

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func TestPromptKinds(t *testing.T) {
	for _, c := range []struct{ raw, text, err string }{
		{`"Once"`, "Once", ""},
		{` [ "Once" ]`, "Once", ""},
		{`[1, 403]`, "", ""},
		{`["a", "b"]`, "", "a list of 2 prompts"},
		{`[]`, "", "prompt must be"},
		{`[1, "a"]`, "", "prompt must be"},
		{`["a", 1]`, "", "prompt must be"},
		{`{"text": "a"}`, "", "prompt must be"},
		{`7`, "", "prompt must be"},
		{`null`, "", "you must provide a prompt"},
	} {
		req, e := (&completionRequest{Prompt: json.RawMessage(c.raw)}).prompt()
		switch {
		case c.err != "":
			if e == nil || !strings.Contains(e.Message, c.err) {
				t.Errorf("%s: %v, want an error with %q", c.raw, e, c.err)
			}
		case e != nil:
			t.Errorf("%s: %v", c.raw, e.Message)
		case c.text != "" && req.GetText() != c.text:
			t.Errorf("%s: text %q", c.raw, req.GetText())
		case c.text == "" && len(req.GetTokenIds().GetIds()) != 2:
			t.Errorf("%s: ids %v", c.raw, req.GetTokenIds().GetIds())
		}
	}
}

// TestLongIDPromptDecodesOnce: a long list of token ids costs about its own
// size to decode. Tried first as a list of strings, it cost a string header
// (16 bytes) and more per id, which made a 32 MiB body cost the pod a GiB.
func TestLongIDPromptDecodesOnce(t *testing.T) {
	raw := json.RawMessage("[" + strings.Repeat("3,", 1<<20) + "3]")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	req, e := (&completionRequest{Prompt: raw}).prompt()
	runtime.ReadMemStats(&after)
	if e != nil || len(req.GetTokenIds().GetIds()) != 1<<20+1 {
		t.Fatalf("ids prompt: %v", e)
	}
	// 4 bytes an id against 2 bytes of JSON, and a little for the decoder.
	if got := after.TotalAlloc - before.TotalAlloc; got > 3*uint64(len(raw)) {
		t.Errorf("decoding %d bytes of ids allocated %d bytes", len(raw), got)
	}
}

func TestStopLists(t *testing.T) {
	many := "[" + strings.Repeat(`"x",`, maxStops) + `"x"]`
	for _, c := range []struct {
		raw  string
		n    int
		code string
	}{
		{`"a"`, 1, ""}, {`["a", "b"]`, 2, ""}, {` [ ] `, 0, ""}, {`null`, 0, ""},
		{`[1, 2]`, 0, "stop must be"}, {`["a", 2]`, 0, "stop must be"}, {`{}`, 0, "stop must be"},
		{many, 0, "maximum length 64, but got an array with length 65"},
	} {
		got, e := stops(json.RawMessage(c.raw))
		switch {
		case c.code == "" && (e != nil || len(got) != c.n):
			t.Errorf("%s: %v %v", c.raw, got, e)
		case c.code != "" && (e == nil || e.Status != 400 || !strings.Contains(e.Message, c.code)):
			t.Errorf("%s: %v, want 400 with %q", c.raw, e, c.code)
		}
	}
}

// TestJSONValuesCountsItems: the count is at least the number of array items
// and object members, whatever the strings hold.
func TestJSONValuesCountsItems(t *testing.T) {
	for _, c := range []struct {
		s string
		n int
	}{
		{`{}`, 1}, {`[]`, 1}, {`[1,2,3]`, 3}, {`{"a":[{},{}],"b":"x"}`, 6},
		{`["a,b[{", "\",[", "\\", 1]`, 4}, {`"\\\\\"[,"`, 0},
	} {
		if got := jsonValues([]byte(c.s)); got != c.n {
			t.Errorf("%s: %d, want %d", c.s, got, c.n)
		}
	}
}

func FuzzJSONValues(f *testing.F) {
	f.Add(`{"model":"m","messages":[{"role":"user","content":"a,b"}],"stop":["\",[{"]}`)
	f.Add(`[1,2,[3,{"a":4}]]`)
	f.Fuzz(func(t *testing.T, s string) {
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			return
		}
		if got, want := jsonValues([]byte(s)), countValues(v); got < want {
			t.Fatalf("%q: counted %d, it holds %d values", s, got, want)
		}
	})
}

// countValues is the number of array items and object members in v.
func countValues(v any) int {
	n := 0
	switch v := v.(type) {
	case []any:
		for _, x := range v {
			n += 1 + countValues(x)
		}
	case map[string]any:
		for _, x := range v {
			n += 1 + countValues(x)
		}
	}
	return n
}

func TestMessagesOverTheCap(t *testing.T) {
	req := &chatRequest{Messages: make([]chatMessage, maxMessages+1)}
	for i := range req.Messages {
		req.Messages[i] = chatMessage{Role: "user", Content: json.RawMessage(`"hi"`)}
	}
	if _, e := req.messages(); e == nil || e.Status != 400 || e.Code == nil || *e.Code != "array_above_max_length" ||
		!strings.Contains(e.Message, "maximum length 16384, but got an array with length 16385") {
		t.Fatalf("%d messages: %+v", maxMessages+1, e)
	}
	req.Messages = req.Messages[:maxMessages]
	if msgs, e := req.messages(); e != nil || len(msgs) != maxMessages {
		t.Fatalf("%d messages: %v", maxMessages, e)
	}
}
