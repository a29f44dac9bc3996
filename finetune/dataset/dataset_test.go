package dataset

import (
	"errors"
	"strings"
	"testing"
)

func TestChatAndPromptCompletion(t *testing.T) {
	chat := `{"messages":[{"role":"system","content":"Tell stories."},{"role":"user","content":"A cat?"},{"role":"assistant","content":"Once upon a time, a cat.","weight":1}]}

{"messages":[{"role":"user","content":"A dog?"},{"role":"assistant","content":"skip","weight":0},{"role":"assistant","content":"A dog ran."}]}`
	got, err := Parse(strings.NewReader(chat))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].IsChat() || got[1].Line != 3 {
		t.Fatalf("got %+v", got)
	}
	if got[1].Messages[1].Learned() || !got[1].Messages[2].Learned() || got[1].Messages[0].Learned() {
		t.Fatalf("weights not honoured: %+v", got[1].Messages)
	}
	pc, err := Parse(strings.NewReader(`{"prompt":"Tim had","completion":" a ball."}` + "\n"))
	if err != nil || len(pc) != 1 || pc[0].IsChat() || pc[0].Completion != " a ball." {
		t.Fatalf("prompt/completion: %+v %v", pc, err)
	}
}

func TestBadLinesAreNamed(t *testing.T) {
	cases := map[string]string{
		`{"messages":[{"role":"bot","content":"x"}]}`:             `line 1: messages[0]: unknown role "bot"`,
		`{"messages":[{"role":"user","content":"x"}]}`:            "line 1: no assistant message",
		`{"messages":[{"role":"assistant","content":3}]}`:         `line 1: messages[0]: "content" must be a string`,
		`{"messages":[{"role":"user","content":"x","weight":1}]}`: `"weight" is only allowed on assistant`,
		`{"messages":"hi"}`:                             `"messages" must be an array`,
		`{"prompt":"a"}`:                                `line 1: "completion" is missing`,
		`{"prompt":"a","completion":"  "}`:              `"completion" is empty`,
		`{"prompt":"a","completion":"b","messages":[]}`: "mixes",
		`{"text":"a"}`:                                  `want "messages"`,
		`{"prompt":"a",`:                                "line 1: not a JSON object",
		`[1,2]`:                                         "line 1: not a JSON object",
		`{"prompt":"a","completion":"b"} {}`:            "more than one JSON value",
		"{\"prompt\":\"a\",\"completion\":\"\xff\"}":    "not valid UTF-8",
		`{"messages":[{"role":"assistant","content":"x","weight":2}]}`: `"weight" must be 0 or 1`,
	}
	for in, want := range cases {
		_, err := Parse(strings.NewReader(in))
		var de *Error
		if !errors.As(err, &de) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", in, err, want)
		}
	}
}

func TestErrorsKeepLineNumbersAndCount(t *testing.T) {
	good := `{"prompt":"a","completion":"b"}`
	var lines []string
	for i := 0; i < 30; i++ {
		if i%2 == 1 {
			lines = append(lines, "nope")
		} else {
			lines = append(lines, good)
		}
	}
	lines = append(lines, `{"messages":[{"role":"assistant","content":"x"}]}`)
	_, err := Parse(strings.NewReader(strings.Join(lines, "\n")))
	var de *Error
	if !errors.As(err, &de) {
		t.Fatalf("got %v", err)
	}
	if de.Total != 16 || len(de.Lines) != maxReported || de.Lines[0].Line != 2 || de.Lines[9].Line != 20 {
		t.Fatalf("got %+v", de)
	}
	if !strings.Contains(err.Error(), "(and 6 more bad lines)") {
		t.Fatalf("message: %v", err)
	}
}

func TestFormatsDoNotMix(t *testing.T) {
	in := `{"prompt":"a","completion":"b"}` + "\n" + `{"messages":[{"role":"assistant","content":"x"}]}`
	_, err := Parse(strings.NewReader(in))
	if err == nil || !strings.Contains(err.Error(), "line 2: this line is in the chat format") {
		t.Fatalf("got %v", err)
	}
}

func TestEmptyAndLongLines(t *testing.T) {
	if _, err := Parse(strings.NewReader("\n  \n")); !errors.Is(err, ErrEmpty) {
		t.Fatalf("empty: %v", err)
	}
	long := `{"prompt":"` + strings.Repeat("a", MaxLineBytes) + `","completion":"b"}`
	in := long + "\n" + `{"prompt":"a","completion":"b"}` + "\n" + "bad"
	_, err := Parse(strings.NewReader(in))
	var de *Error
	if !errors.As(err, &de) || de.Total != 2 || de.Lines[0].Line != 1 || de.Lines[1].Line != 3 {
		t.Fatalf("got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]}`))
	f.Add([]byte(`{"prompt":"a","completion":"b"}` + "\n" + `{"prompt":"c","completion":"d"}`))
	f.Add([]byte(`{"messages":[{"role":"assistant","content":"y","weight":0}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		ex, err := Parse(strings.NewReader(string(in)))
		if err == nil && len(ex) == 0 {
			t.Fatal("no error and no examples")
		}
		for _, e := range ex {
			if e.IsChat() {
				learned := false
				for _, m := range e.Messages {
					learned = learned || m.Learned()
				}
				if !learned {
					t.Fatalf("accepted a chat example with nothing to learn: %+v", e)
				}
			} else if strings.TrimSpace(e.Completion) == "" {
				t.Fatalf("accepted an empty completion: %+v", e)
			}
		}
	})
}
