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
