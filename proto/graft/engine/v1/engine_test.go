package enginev1

import (
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func fullRequest() *GenerateRequest {
	seed := uint64(133742)
	add := false
	return &GenerateRequest{
		RequestId:        "req-1",
		Prompt:           &GenerateRequest_TokenIds{TokenIds: &TokenIds{Ids: []int32{1, 403, 407}}},
		AdapterId:        "support-bot",
		AddSpecialTokens: &add,
		Sampling: &SamplingParams{
			MaxTokens: 64, Temperature: 0.7, TopK: 40, TopP: 0.9, MinP: 0.05, Seed: &seed,
			Stop: []string{"\n\n", "END"}, StopTokenIds: []int32{2},
			RepetitionPenalty: 1.1, FrequencyPenalty: 0.5, PresencePenalty: -0.5,
			Logprobs: true, TopLogprobs: 5, IgnoreEos: true, IncludeStopStrInOutput: true,
		},
	}
}

func TestGenerateRequestRoundTrip(t *testing.T) {
	in := fullRequest()
	b, err := proto.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := &GenerateRequest{}
	if err := proto.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(in, out) {
		t.Fatalf("round trip changed the message:\n in: %v\nout: %v", in, out)
	}
	if out.GetSampling().Seed == nil || out.GetSampling().GetSeed() != 133742 {
		t.Error("explicit seed lost: a seeded request must stay reproducible")
	}
	if out.AddSpecialTokens == nil || *out.AddSpecialTokens {
		t.Error("add_special_tokens=false must survive as set-and-false, not unset")
	}
}

func TestGenerateRequestTextPromptJSON(t *testing.T) {
	in := &GenerateRequest{Prompt: &GenerateRequest_Text{Text: "Once upon a time"}, Sampling: &SamplingParams{MaxTokens: 8}}
	b, err := protojson.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out := &GenerateRequest{}
	if err := protojson.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	if out.GetText() != "Once upon a time" || out.GetTokenIds() != nil {
		t.Fatalf("prompt oneof = %v", out.Prompt)
	}
	if out.GetSampling().Seed != nil {
		t.Error("an unset seed must stay unset (random), not become seed 0")
	}
}

func TestUnmarshalGarbage(t *testing.T) {
	if err := proto.Unmarshal([]byte{0xff, 0xff, 0xff}, &GenerateRequest{}); err == nil {
		t.Fatal("garbage bytes decoded without error")
	}
}
