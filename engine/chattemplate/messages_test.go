package chattemplate

import (
	"strings"
	"testing"
)

func TestParseMessages(t *testing.T) {
	msgs, err := ParseMessages([]byte(`[
		{"role": "system", "content": "Be brief."},
		{"role": "user", "content": [{"type": "text", "text": "Hi"}], "name": "ann"},
		{"role": "assistant", "content": null, "reasoning_content": "hmm"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 || msgs[0].Content != "Be brief." || msgs[1].Name != "ann" || msgs[2].Content != nil {
		t.Fatalf("parsed %+v", msgs)
	}
	if _, ok := msgs[2].Extra["reasoning_content"]; !ok {
		t.Error("unknown keys must reach the template through Extra")
	}
	tmpl, err := New("{% for m in messages %}{{ m.role }}:{{ m.content if m.content is string else m.content[0].text }}|{% endfor %}")
	if err != nil {
		t.Fatal(err)
	}
	out, err := tmpl.Render(msgs[:2], false, nil)
	if err != nil || out != "system:Be brief.|user:Hi|" {
		t.Fatalf("render = %q, %v", out, err)
	}
}

func TestParseMessagesErrors(t *testing.T) {
	for in, want := range map[string]string{
		`{"role": "user"}`:                 "JSON array",
		`[{"content": "x"}]`:               "role",
		`[{"role": "user", "content": 5}]`: "content",
	} {
		if _, err := ParseMessages([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want mention of %q", in, err, want)
		}
	}
}
