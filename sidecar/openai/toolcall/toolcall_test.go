package toolcall

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestParseFamilies(t *testing.T) {
	tools := []string{"get_weather", "add"}
	for _, c := range []struct {
		name, text string
		want       Result
	}{
		{"hermes", "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
			Result{Content: "Let me check.", Calls: []Call{{"get_weather", `{"city": "Paris"}`}}}},
		{"hermes two", "<tool_call>{\"name\":\"add\",\"arguments\":{\"a\":1}}</tool_call>\n<tool_call>{\"name\":\"get_weather\",\"arguments\":{}}</tool_call>",
			Result{Calls: []Call{{"add", `{"a":1}`}, {"get_weather", `{}`}}}},
		{"hermes unclosed", "<tool_call>{\"name\":\"add\",\"arguments\":{\"a\":1}}",
			Result{Calls: []Call{{"add", `{"a":1}`}}}},
		{"mistral", "[TOOL_CALLS] [{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}}]",
			Result{Calls: []Call{{"add", `{"a": 1, "b": 2}`}}}},
		{"llama", "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}",
			Result{Calls: []Call{{"get_weather", `{"city": "Oslo"}`}}}},
		{"llama semicolons", `{"name": "add", "parameters": {"a": 1}}; {"name": "add", "parameters": {"a": 2}}`,
			Result{Calls: []Call{{"add", `{"a": 1}`}, {"add", `{"a": 2}`}}}},
		{"quoted arguments", `{"name": "add", "arguments": "{\"a\": 1}"}`,
			Result{Calls: []Call{{"add", `{"a": 1}`}}}},
		{"undeclared bare object is content", `{"name": "launch", "parameters": {}}`,
			Result{Content: `{"name": "launch", "parameters": {}}`}},
		{"plain text", "Once upon a time", Result{Content: "Once upon a time"}},
		{"broken hermes is content", "<tool_call>{not json</tool_call>", Result{Content: "<tool_call>{not json</tool_call>"}},
	} {
		if got := Parse(c.text, tools); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestForced(t *testing.T) {
	got := Forced(`[{"name": "add", "parameters": {"a": 1}}, {"name":"get_weather","parameters":{"city":"x"}}]`)
	want := []Call{{"add", `{"a": 1}`}, {"get_weather", `{"city":"x"}`}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
}

// FuzzParse: any output parses without panicking, and every call found has
// a name and arguments that are JSON.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"<tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call>", "[TOOL_CALLS] [{\"name\":\"a\"}]",
		`{"name":"a","parameters":{"x":[1,2]}}`, "<|python_tag|>[", "text <tool_call>", `{"name":"a","arguments":"notjson"}`,
		`[{"name": "a", "parameters": {"s": "\"}"}}, {"name": "b", "parameters": {`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		r := Parse(text, []string{"a"})
		for _, c := range r.Calls {
			if c.Name == "" {
				t.Fatalf("a call without a name from %q", text)
			}
		}
		for _, c := range Forced(text) {
			if c.Name == "" || !json.Valid([]byte(c.Arguments)) {
				t.Fatalf("forced call %+v from %q", c, text)
			}
		}
		for _, p := range ScanForced(text) {
			if !strings.Contains(text, p.Args) {
				t.Fatalf("scanned arguments %q are not in %q", p.Args, text)
			}
		}
	})
}

// Every prefix of a forced output scans to calls whose arguments are
// prefixes of the final ones, and the whole output to what Forced reads.
func TestScanForcedPrefixes(t *testing.T) {
	text := "[ {\"name\": \"add\", \"parameters\": {\"a\": [1, {\"b\": \"}\\\"]\"}]}},\n {\"name\":\"get_weather\",\"parameters\":{}}]"
	final := Forced(text)
	if len(final) != 2 {
		t.Fatalf("Forced read %+v", final)
	}
	for n := range len(text) + 1 {
		got := ScanForced(text[:n])
		if len(got) > len(final) {
			t.Fatalf("%q: %d calls", text[:n], len(got))
		}
		for i, p := range got {
			if p.Name != final[i].Name || !strings.HasPrefix(final[i].Arguments, p.Args) || p.Done != (p.Args == final[i].Arguments) {
				t.Fatalf("%q: call %d %+v, final %+v", text[:n], i, p, final[i])
			}
		}
		if n == len(text) && (len(got) != 2 || !got[1].Done) {
			t.Fatalf("whole text scanned to %+v", got)
		}
	}
}
