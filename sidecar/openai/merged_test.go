package openai

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/graft-ai/graft/internal/testmodels"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// TestMergedAdaptersBodyField: "adapters" in a chat or completions body (the
// SDKs' extra_body) loads its adapters from the pod's source and runs the
// request on their merge, with the text the engine gives that merge asked
// directly; the merge is not offered as a model.
func TestMergedAdaptersBodyField(t *testing.T) {
	p := startAdapterPod(t, testmodels.Path(t, "stories260K", "adapters"))
	adapters := `"adapters":{"ids":["qv-r4","all-r8"],"weights":[0.5,1.5],"merge_strategy":"dare_ties","density":0.6,"majority_sign_method":"frequency","seed":3}`
	var c completion
	ok(t, p.url+"/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","max_tokens":12,"temperature":0,`+adapters+`}`, &c)
	want := mergedText(t, p.engine, &enginev1.MergedAdapters{Ids: []string{"qv-r4", "all-r8"}, Weights: []float64{0.5, 1.5},
		MergeStrategy: "dare_ties", Density: new(0.6), MajoritySignMethod: "frequency", Seed: new(uint64(3))})
	if c.Choices[0].Text != want {
		t.Fatalf("merged completion %q, the engine's merge gives %q", c.Choices[0].Text, want)
	}
	var base completion
	ok(t, p.url+"/v1/completions", `{"model":"stories260K","prompt":"Once upon a time","max_tokens":12,"temperature":0}`, &base)
	if base.Choices[0].Text == want {
		t.Fatalf("the merged adapters changed nothing: %q", want)
	}
	var chat completion
	ok(t, p.url+"/v1/chat/completions", `{"model":"stories260K","messages":[{"role":"user","content":"Hi"}],"max_tokens":4,`+adapters+`}`, &chat)
	if chat.Choices[0].Message.Content == "" {
		t.Fatal("empty chat answer with merged adapters")
	}
	checkModels(t, p, []string{"stories260K", "all-r8", "mlp-r16", "o-r2-rslora", "qv-r4"})
}

func mergedText(t *testing.T, ec enginev1.EngineClient, m *enginev1.MergedAdapters) string {
	t.Helper()
	st, err := ec.Generate(context.Background(), &enginev1.GenerateRequest{Prompt: &enginev1.GenerateRequest_Text{Text: "Once upon a time"},
		MergedAdapters: m, Sampling: &enginev1.SamplingParams{MaxTokens: 12, TopP: 1, RepetitionPenalty: 1}})
	if err != nil {
		t.Fatal(err)
	}
	var text string
	for {
		msg, err := st.Recv()
		if err == io.EOF {
			return text
		}
		if err != nil {
			t.Fatal(err)
		}
		text += msg.TextDelta
	}
}

// TestMergedAdaptersErrors: each bad part of "adapters" is a 400 naming it.
func TestMergedAdaptersErrors(t *testing.T) {
	p := startAdapterPod(t, testmodels.Path(t, "stories260K", "adapters"))
	for _, c := range []struct{ adapters, param string }{
		{`{"ids":[]}`, "adapters.ids"},
		{`{"ids":"qv-r4"}`, "adapters.ids"},
		{`{"ids":["qv-r4","qv-r4"]}`, "adapters.ids"},
		{`{"ids":["qv-r4","all-r8"],"weights":[1]}`, "adapters.weights"},
		{`{"ids":["qv-r4","all-r8"],"weights":[1,-2]}`, "adapters.weights"},
		{`{"ids":["qv-r4","all-r8"],"merge_strategy":"svd"}`, "adapters.merge_strategy"},
		{`{"ids":["qv-r4","all-r8"],"merge_strategy":"ties","density":0}`, "adapters.density"},
		{`{"ids":["qv-r4","all-r8"],"majority_sign_method":"mean"}`, "adapters.majority_sign_method"},
	} {
		for _, ep := range []string{"/v1/completions", "/v1/chat/completions"} {
			wantError(t, p.url+ep, `{"model":"stories260K","prompt":"x","messages":[{"role":"user","content":"x"}],"adapters":`+c.adapters+`}`, 400, c.param)
		}
	}
	wantError(t, p.url+"/v1/completions", `{"model":"qv-r4","prompt":"x","adapters":{"ids":["all-r8"]}}`, 400, "adapters")
	e := wantError(t, p.url+"/v1/completions", `{"model":"stories260K","prompt":"x","adapters":{"ids":["qv-r4","no-such-adapter"]}}`, 404, "")
	if !strings.Contains(e.Error.Message, "no-such-adapter") {
		t.Fatalf("unknown adapter: %q", e.Error.Message)
	}
}
