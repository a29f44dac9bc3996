package openai

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fieldError is the engine's refusal of one request field.
func fieldError(t *testing.T, field, msg string) error {
	t.Helper()
	st, err := status.New(codes.InvalidArgument, msg).WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: msg}}})
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

func TestEngineFieldsBecomeOpenAIParams(t *testing.T) {
	chat := &paramNames{chat: true, maxTokens: "max_completion_tokens"}
	chatMax := &paramNames{chat: true, maxTokens: "max_tokens"}
	compl := &paramNames{maxTokens: "max_tokens"}
	for _, c := range []struct {
		names        *paramNames
		field, param string
	}{
		{chat, "prompt.chat.messages", "messages"},
		{chat, "prompt.chat.chat_template", "chat_template"},
		{chat, "prompt.token_ids", "messages"},
		{chat, "sampling.max_tokens", "max_completion_tokens"},
		{chatMax, "sampling.max_tokens", "max_tokens"},
		{chat, "sampling.top_logprobs", "top_logprobs"},
		{chat, "sampling.temperature", "temperature"},
		{chat, "adapter_id", "model"},
		{chat, "n", "n"},
		{compl, "prompt.text", "prompt"},
		{compl, "prompt.token_ids", "prompt"},
		{compl, "sampling.top_logprobs", "logprobs"},
		{compl, "sampling.stop_token_ids", "stop_token_ids"},
		{compl, "sampling.max_tokens", "max_tokens"},
		{compl, "", ""},
		{nil, "sampling.top_p", "top_p"},
		{nil, "adapter_id", "model"},
	} {
		e := fromRPC(fieldError(t, c.field, c.field+": must be better"), c.names)
		got := ""
		if e.Param != nil {
			got = *e.Param
		}
		if e.Status != 400 || got != c.param {
			t.Errorf("%s: %d param %q, want 400 %q", c.field, e.Status, got, c.param)
		}
		if c.param != "" && !strings.HasPrefix(e.Message, c.param+": ") {
			t.Errorf("%s: message %q does not name %s", c.field, e.Message, c.param)
		}
	}
}

// TestQueueFullIs429: the engine's queue bound tells the client to come back;
// a message too large for gRPC never fits, so it is a 413 instead.
func TestQueueFullIs429(t *testing.T) {
	for _, c := range []struct {
		err        error
		status     int
		retryAfter bool
	}{
		{status.Error(codes.ResourceExhausted, "256 requests are waiting"), http.StatusTooManyRequests, true},
		{status.Error(codes.ResourceExhausted, "grpc: received message larger than max (5000000 vs. 4194304)"), http.StatusRequestEntityTooLarge, false},
		{status.Error(codes.Unavailable, "connection refused"), http.StatusServiceUnavailable, true},
		{errors.New("the engine sent a message for sequence 4, which is not running"), http.StatusInternalServerError, false},
	} {
		rec := httptest.NewRecorder()
		writeError(rec, fromRPC(c.err, nil))
		if rec.Code != c.status || (rec.Header().Get("Retry-After") != "") != c.retryAfter || !strings.HasPrefix(rec.Body.String(), `{"error":{"message":`) {
			t.Errorf("%v: %d Retry-After=%q %s", c.err, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
	}
}

// TestEngineErrorsNameOpenAIParams: refusals that only the engine can judge
// come back naming the parameter the client sent.
func TestEngineErrorsNameOpenAIParams(t *testing.T) {
	p := startPod(t)
	compl, chat := p.url+"/v1/completions", p.url+"/v1/chat/completions"
	msgs := `"messages":[{"role":"user","content":"x"}]`
	for _, c := range []struct{ url, body, param string }{
		{chat, `{"model":"stories260K",` + msgs + `,"logprobs":true,"top_logprobs":21}`, "top_logprobs"},
		{compl, `{"model":"stories260K","prompt":"x","logprobs":21}`, "logprobs"},
		{chat, `{"model":"stories260K",` + msgs + `,"max_tokens":5000}`, "max_tokens"},
		{chat, `{"model":"stories260K",` + msgs + `,"max_completion_tokens":5000}`, "max_completion_tokens"},
		{compl, `{"model":"stories260K","prompt":[1],"max_tokens":5000}`, "max_tokens"},
		{compl, `{"model":"stories260K","prompt":[99999]}`, "prompt"},
		{chat, `{"model":"stories260K",` + msgs + `,"chat_template":"{% if %}"}`, "chat_template"},
		{chat, `{"model":"stories260K",` + msgs + `,"frequency_penalty":3}`, "frequency_penalty"},
	} {
		e := wantError(t, c.url, c.body, 400, c.param)
		if strings.Contains(e.Error.Message, "sampling.") || strings.Contains(e.Error.Message, "prompt.") {
			t.Errorf("%s: message in the engine's terms: %s", c.body, e.Error.Message)
		}
		answersGolden(t, p)
	}
}
