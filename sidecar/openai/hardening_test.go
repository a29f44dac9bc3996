package openai

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestBodyOverLimitIs413(t *testing.T) {
	p := startPod(t)
	huge := `{"model":"stories260K","prompt":"` + strings.Repeat("a", 50<<20) + `"}`
	e := wantError(t, p.url+"/v1/completions", huge, http.StatusRequestEntityTooLarge, "")
	if !strings.Contains(e.Error.Message, "33554432 bytes") {
		t.Errorf("413 does not state the limit: %s", e.Error.Message)
	}
	answersGolden(t, p)

	small := startPodWith(t, Config{MaxBodyBytes: 1 << 10})
	wantError(t, small.url+"/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"user","content":"`+strings.Repeat("a", 2<<10)+`"}]}`, http.StatusRequestEntityTooLarge, "")
	answersGolden(t, small)
}

func TestNullPromptAndRoles(t *testing.T) {
	p := startPod(t)
	compl, chat := p.url+"/v1/completions", p.url+"/v1/chat/completions"
	for _, c := range []struct{ url, body, param string }{
		{compl, `{"model":"stories260K","prompt":null}`, "prompt"},
		{compl, `{"model":"stories260K"}`, "prompt"},
		{chat, `{"model":"stories260K","messages":[{"content":"Hi"}]}`, "messages[0].role"},
		{chat, `{"model":"stories260K","messages":[{"role":"user","content":"Hi"},{"role":"bot","content":"Hi"}]}`, "messages[1].role"},
		{chat, `{"model":"stories260K","messages":[{"role":"user","content":{"x":1}}]}`, "messages[0].content"},
	} {
		wantError(t, c.url, c.body, http.StatusBadRequest, c.param)
		answersGolden(t, p)
	}
	var c completion
	ok(t, chat, `{"model":"stories260K","messages":[{"role":"developer","content":"Be brief."},{"role":"user","content":"Hi"}],"max_tokens":2}`, &c)
}

func TestRoutesAnswerInJSON(t *testing.T) {
	p := startPod(t)
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/v1/chat/completions", http.StatusMethodNotAllowed, "POST"},
		{"PUT", "/v1/completions", http.StatusMethodNotAllowed, "POST"},
		{"POST", "/v1/models", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"GET", "/v1/embeddings", http.StatusNotFound, ""},
		{"GET", "/", http.StatusNotFound, ""},
	} {
		req, _ := http.NewRequest(c.method, p.url+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e errorBody
		if resp.StatusCode != c.status || resp.Header.Get("Allow") != c.allow || json.Unmarshal(data, &e) != nil || e.Error.Message == "" {
			t.Errorf("%s %s: %d Allow=%q %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), data)
		}
		answersGolden(t, p)
	}
}

func TestInvalidUTF8Is400(t *testing.T) {
	p := startPod(t)
	e := wantError(t, p.url+"/v1/completions", "{\"model\":\"stories260K\",\"prompt\":\"Once \xff\xfe upon\"}", http.StatusBadRequest, "")
	if !strings.Contains(e.Error.Message, "UTF-8") {
		t.Errorf("invalid UTF-8: %s", e.Error.Message)
	}
	answersGolden(t, p)
}

// TestNumbersOutOfRange: a number that is not an integer, or does not fit the
// field, is refused saying so, for every numeric field.
func TestNumbersOutOfRange(t *testing.T) {
	p := startPod(t)
	compl, chat := p.url+"/v1/completions", p.url+"/v1/chat/completions"
	msgs := `"messages":[{"role":"user","content":"x"}],`
	for _, c := range []struct{ url, field, value, says string }{
		{compl, "max_tokens", "1e13", "integer"},
		{compl, "max_tokens", "10000000000000", "too large"},
		{compl, "max_tokens", "99999999999999999999", "out of range"},
		{compl, "max_tokens", "2.5", "integer"},
		{compl, "max_tokens", "0", "at least 1"},
		{chat, "max_completion_tokens", "1e13", "integer"},
		{chat, "max_completion_tokens", "4294967297", "too large"},
		{compl, "n", "1e20", "integer"},
		{compl, "n", "4294967298", "too large"},
		{compl, "top_k", "4294967296", "too large"},
		{compl, "top_k", "-2", "at least -1"},
		{compl, "logprobs", "4294967296", "too large"},
		{compl, "logprobs", "-1", "at least 0"},
		{chat, "top_logprobs", "4294967296", "too large"},
		{compl, "seed", "1e30", "integer"},
		{compl, "seed", "18446744073709551616", "out of range"},
		{compl, "temperature", "1e39", "out of range"},
		{compl, "temperature", "1e400", "out of range"},
		{compl, "top_p", "-1e39", "out of range"},
		{compl, "min_p", "1e39", "out of range"},
		{compl, "repetition_penalty", "1e39", "out of range"},
		{compl, "frequency_penalty", "-1e39", "out of range"},
		{compl, "presence_penalty", "1e39", "out of range"},
		{compl, "best_of", "1e20", "integer"},
	} {
		body := `{"model":"stories260K",` + msgs + `"prompt":"x","` + c.field + `":` + c.value + `}`
		if c.url == compl {
			body = strings.Replace(body, msgs, "", 1)
		}
		e := wantError(t, c.url, body, http.StatusBadRequest, c.field)
		if !strings.Contains(e.Error.Message, c.says) {
			t.Errorf("%s=%s: %q does not say %q", c.field, c.value, e.Error.Message, c.says)
		}
	}
	answersGolden(t, p)
}
