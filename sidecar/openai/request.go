package openai

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// maxBodyBytes bounds a request body; chat histories are large but not this large.
const maxBodyBytes = 32 << 20

// maxN bounds n: each choice is its own sequence in the engine.
const maxN = 128

// commonParams are the sampling fields both endpoints share, with LoRAX's
// top_k and repetition_penalty.
type commonParams struct {
	Model             string          `json:"model"`
	MaxTokens         *int64          `json:"max_tokens"`
	Temperature       *float64        `json:"temperature"`
	TopP              *float64        `json:"top_p"`
	N                 *int            `json:"n"`
	Stream            bool            `json:"stream"`
	StreamOptions     *streamOptions  `json:"stream_options"`
	Stop              json.RawMessage `json:"stop"`
	Seed              *int64          `json:"seed"`
	PresencePenalty   *float64        `json:"presence_penalty"`
	FrequencyPenalty  *float64        `json:"frequency_penalty"`
	User              string          `json:"user"`
	TopK              *int            `json:"top_k"`
	MinP              *float64        `json:"min_p"`
	RepetitionPenalty *float64        `json:"repetition_penalty"`
	IgnoreEOS         bool            `json:"ignore_eos"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// decode reads a JSON body into v; errors are OpenAI's 400s, with param set when
// a field has the wrong type.
func decode(r *http.Request, v any) *apiError {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	if err != nil {
		return badRequest("", "could not read the request body: %v", err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := strings.TrimPrefix(te.Field, "commonParams.") // the embedded struct's name is ours, not the API's
			return badRequest(field, "%s: wrong type: %s is not %s", field, te.Value, te.Type)
		}
		return badRequest("", "We could not parse the JSON body of your request. (HINT: This likely means you aren't sending valid JSON.) %v", err)
	}
	return nil
}

// stops accepts a string or a list of strings.
func stops(raw json.RawMessage) ([]string, *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, badRequest("stop", "stop must be a string or a list of strings")
	}
	for _, s := range many {
		if s == "" {
			return nil, badRequest("stop", "stop strings must not be empty")
		}
	}
	return many, nil
}

func f32(p *float64, def float32) float32 {
	if p == nil {
		return def
	}
	return float32(*p)
}

// sampling maps the OpenAI fields onto the engine's. defaultMax is the endpoint's
// max_tokens default (0: up to the context), maxParam the field name to blame.
func (c *commonParams) sampling(maxTokens *int64, maxParam string, defaultMax uint32) (*enginev1.SamplingParams, *apiError) {
	sp := &enginev1.SamplingParams{
		MaxTokens: defaultMax, Temperature: f32(c.Temperature, 1), TopP: f32(c.TopP, 1),
		MinP: f32(c.MinP, 0), RepetitionPenalty: f32(c.RepetitionPenalty, 1),
		FrequencyPenalty: f32(c.FrequencyPenalty, 0), PresencePenalty: f32(c.PresencePenalty, 0),
		IgnoreEos: c.IgnoreEOS,
	}
	if maxTokens != nil {
		if *maxTokens < 1 || *maxTokens > math.MaxInt32 {
			return nil, badRequest(maxParam, "%s must be at least 1, got %d", maxParam, *maxTokens)
		}
		sp.MaxTokens = uint32(*maxTokens)
	}
	// The engine reads 0 as "disabled" for these, so out-of-range values that
	// would otherwise look like "off" are refused here.
	if c.TopP != nil && *c.TopP <= 0 {
		return nil, badRequest("top_p", "top_p must be in (0, 1], got %v", *c.TopP)
	}
	if c.RepetitionPenalty != nil && *c.RepetitionPenalty <= 0 {
		return nil, badRequest("repetition_penalty", "repetition_penalty must be > 0, got %v", *c.RepetitionPenalty)
	}
	if c.TopK != nil {
		switch k := *c.TopK; {
		case k == -1 || k == 0: // vLLM's and LoRAX's "disabled"
		case k < -1:
			return nil, badRequest("top_k", "top_k must be -1 (disabled) or positive, got %d", k)
		default:
			sp.TopK = uint32(k)
		}
	}
	if c.Seed != nil {
		seed := uint64(*c.Seed)
		sp.Seed = &seed
	}
	var err *apiError
	if sp.Stop, err = stops(c.Stop); err != nil {
		return nil, err
	}
	return sp, nil
}

func (c *commonParams) choices() (int, *apiError) {
	if c.N == nil {
		return 1, nil
	}
	if *c.N < 1 || *c.N > maxN {
		return 0, badRequest("n", "n must be between 1 and %d, got %d", maxN, *c.N)
	}
	return *c.N, nil
}

// chatRequest is POST /v1/chat/completions.
type chatRequest struct {
	commonParams
	Messages            []chatMessage `json:"messages"`
	MaxCompletionTokens *int64        `json:"max_completion_tokens"`
	Logprobs            bool          `json:"logprobs"`
	TopLogprobs         *int          `json:"top_logprobs"`
	ChatTemplate        string        `json:"chat_template"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Name    string          `json:"name"`
}

// text returns a message's content: a string, null, or a list of text parts.
func (m chatMessage) text() (string, bool) {
	if len(m.Content) == 0 || string(m.Content) == "null" {
		return "", true
	}
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s, true
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(m.Content, &parts) != nil {
		return "", false
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return "", false
		}
		b.WriteString(p.Text)
	}
	return b.String(), true
}

// completionRequest is POST /v1/completions.
type completionRequest struct {
	commonParams
	Prompt   json.RawMessage `json:"prompt"`
	Logprobs *int            `json:"logprobs"`
	Echo     bool            `json:"echo"`
	BestOf   *int            `json:"best_of"`
	Suffix   *string         `json:"suffix"`
}

// prompt accepts a string, a one-element list of strings, or a list of token ids.
func (c *completionRequest) prompt() (*enginev1.GenerateRequest, *apiError) {
	var s string
	if json.Unmarshal(c.Prompt, &s) == nil {
		return &enginev1.GenerateRequest{Prompt: &enginev1.GenerateRequest_Text{Text: s}}, nil
	}
	var list []string
	if json.Unmarshal(c.Prompt, &list) == nil {
		if len(list) != 1 {
			return nil, badRequest("prompt", "a list of %d prompts is not supported; send one prompt per request", len(list))
		}
		return &enginev1.GenerateRequest{Prompt: &enginev1.GenerateRequest_Text{Text: list[0]}}, nil
	}
	var ids []int32
	if json.Unmarshal(c.Prompt, &ids) == nil && len(ids) > 0 {
		return &enginev1.GenerateRequest{Prompt: &enginev1.GenerateRequest_TokenIds{TokenIds: &enginev1.TokenIds{Ids: ids}}}, nil
	}
	return nil, badRequest("prompt", "prompt must be a string, a list of one string, or a list of token ids")
}
