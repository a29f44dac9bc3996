package openai

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"testing"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// answersGolden checks the pod still gives the upstream greedy reference, for
// use after each hostile request.
func answersGolden(t *testing.T, p *pod) {
	t.Helper()
	var c completion
	ok(t, p.url+"/v1/completions", `{"model":"stories260K","prompt":[1],"max_tokens":16,"temperature":0}`, &c)
	if want := goldenText(t, p, 16); len(c.Choices) != 1 || c.Choices[0].Text != want {
		t.Fatalf("golden request: %+v, want %q", c.Choices, want)
	}
}

// generateText runs a request on the engine directly and returns its text.
func generateText(t *testing.T, p *pod, r *enginev1.GenerateRequest) string {
	t.Helper()
	st, err := p.engine.Generate(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	var text string
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return text
		}
		if err != nil {
			t.Fatal(err)
		}
		text += m.TextDelta
	}
}

// TestChatIsOneGenerateCall: the messages travel to the engine, which renders
// and tokenizes them; the answer is the one the rendered text gives.
func TestChatIsOneGenerateCall(t *testing.T) {
	p := startPod(t)
	answersGolden(t, p)
	p.calls.take()
	var c completion
	ok(t, p.url+"/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"max_tokens":12,"temperature":0}`, &c)
	if calls := p.calls.take(); !maps.Equal(calls, map[string]int{"Generate": 1}) {
		t.Errorf("engine calls for one chat: %v, want one Generate", calls)
	}
	// stories260K has no chat template: the engine renders ChatML, without BOS.
	rendered := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
	want := generateText(t, p, &enginev1.GenerateRequest{Prompt: &enginev1.GenerateRequest_Text{Text: rendered},
		AddSpecialTokens: new(bool), Sampling: &enginev1.SamplingParams{MaxTokens: 12}})
	if c.Choices[0].Message.Content != want {
		t.Errorf("chat %q, rendered text gives %q", c.Choices[0].Message.Content, want)
	}
	answersGolden(t, p)
}

// TestNIsOneCall: n choices are one engine call whose sequence i is seeded
// seed+i by the engine, so choice i equals a single request with that seed,
// whole or streamed.
func TestNIsOneCall(t *testing.T) {
	p := startPod(t)
	answersGolden(t, p)
	const body = `{"model":"stories260K","prompt":"Once upon a time","max_tokens":8,"temperature":1,"ignore_eos":true,"seed":%d%s}`
	url := p.url + "/v1/completions"
	p.calls.take()
	var many completion
	ok(t, url, fmt.Sprintf(body, 7, `,"n":3`), &many)
	if calls := p.calls.take(); !maps.Equal(calls, map[string]int{"Generate": 1}) {
		t.Errorf("engine calls for n=3: %v, want one Generate", calls)
	}
	if len(many.Choices) != 3 || many.Usage.CompletionTokens != 24 {
		t.Fatalf("n=3: %+v", many)
	}
	for i, c := range many.Choices {
		var one completion
		ok(t, url, fmt.Sprintf(body, 7+i, ""), &one)
		if c.Index != i || c.Text != one.Choices[0].Text || *c.FinishReason != "length" {
			t.Errorf("choice %d: %q (index %d), seed %d alone gives %q", i, c.Text, c.Index, 7+i, one.Choices[0].Text)
		}
	}
	chunks, _ := stream(t, url, fmt.Sprintf(body, 7, `,"n":3,"stream":true`))
	texts, finished := map[int]string{}, 0
	for _, ch := range chunks {
		texts[ch.Choices[0].Index] += ch.Choices[0].Text
		if ch.Choices[0].FinishReason != nil {
			finished++
		}
	}
	for i, c := range many.Choices {
		if texts[i] != c.Text {
			t.Errorf("streamed choice %d %q, whole %q", i, texts[i], c.Text)
		}
	}
	if finished != 3 {
		t.Errorf("%d choices finished in the stream, want 3", finished)
	}
	answersGolden(t, p)
}
