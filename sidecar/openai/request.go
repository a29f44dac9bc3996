package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// DefaultMaxBodyBytes bounds a request body when Config.MaxBodyBytes is unset:
// chat histories are large but not this large.
const DefaultMaxBodyBytes = 32 << 20

// maxN bounds n: each choice is its own sequence in the engine.
const maxN = 128

// commonParams are the sampling fields both endpoints share, with LoRAX's
// top_k and repetition_penalty.
type commonParams struct {
	Model             string          `json:"model"`
	MaxTokens         *int64          `json:"max_tokens"`
	Temperature       *float64        `json:"temperature"`
	TopP              *float64        `json:"top_p"`
	N                 *int64          `json:"n"`
	Stream            bool            `json:"stream"`
	StreamOptions     *streamOptions  `json:"stream_options"`
	Stop              json.RawMessage `json:"stop"`
	Seed              *int64          `json:"seed"`
	Adapters          *mergedAdapters `json:"adapters"` // LoRAX's merged adapters
	PresencePenalty   *float64        `json:"presence_penalty"`
	FrequencyPenalty  *float64        `json:"frequency_penalty"`
	User              string          `json:"user"`
	TopK              *int64          `json:"top_k"`
	MinP              *float64        `json:"min_p"`
	RepetitionPenalty *float64        `json:"repetition_penalty"`
	IgnoreEOS         bool            `json:"ignore_eos"`
	ResponseFormat    *responseFormat `json:"response_format"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// decode reads a JSON body of at most limit bytes into v; errors are OpenAI's
// 400s (413 for a body over the limit), with param set when a field has the
// wrong type.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) *apiError {
	body, err := readBody(w, r, limit)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge(limit)
	}
	if err != nil {
		return badRequest("", "could not read the request body: %v", err)
	}
	// JSON text is UTF-8; Go would quietly turn invalid bytes into U+FFFD and
	// run a prompt the client never sent.
	if jsonValues(body) > maxJSONValues {
		return tooManyValues()
	}
	if i := invalidUTF8(body); i >= 0 {
		return badRequest("", "We could not parse the JSON body of your request: it is not valid UTF-8 (invalid byte at offset %d).", i)
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return typeError(te)
		}
		return badRequest("", "We could not parse the JSON body of your request. (HINT: This likely means you aren't sending valid JSON.) %v", err)
	}
	return nil
}

// maxJSONValues bounds the values (array items and object members) of a
// request body. Decoded and handed on, a value costs the pod up to a few
// hundred bytes (an empty message object becomes a Go struct, then a
// protobuf message on each side of the engine's gRPC), so a body of tiny
// values cost gigabytes; a million still take any token-id prompt that fits
// a context.
const maxJSONValues = 1 << 20

// jsonValues counts the commas and opening brackets and braces of JSON text
// b outside its strings: at least its array items and object members.
func jsonValues(b []byte) int {
	n, inString := 0, false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++ // the escaped byte cannot end the string
		case c == '"':
			inString = !inString
		case !inString && (c == ',' || c == '[' || c == '{'):
			n++
		}
	}
	return n
}

// emptyList reports whether raw is [] (spaces allowed).
func emptyList(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) >= 2 && raw[0] == '[' && len(bytes.TrimSpace(raw[1:len(raw)-1])) == 0 && raw[len(raw)-1] == ']'
}

// readBody reads at most limit bytes of r's body into a buffer sized once
// from Content-Length when the client sent one, rather than grown by
// doubling, which leaves as much garbage again as the body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, limit)
	if r.ContentLength <= 0 || r.ContentLength > limit {
		return io.ReadAll(body)
	}
	buf := bytes.NewBuffer(make([]byte, 0, r.ContentLength+1)) // +1: EOF is seen without growing
	_, err := buf.ReadFrom(body)
	return buf.Bytes(), err
}

// invalidUTF8 returns the offset of the first byte that is not UTF-8, or -1.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// typeError says what is wrong with a field of the wrong type, separating the
// numbers that are not integers and those too large to hold from plain type
// mismatches.
func typeError(te *json.UnmarshalTypeError) *apiError {
	field := strings.TrimPrefix(te.Field, "commonParams.") // the embedded struct's name is ours, not the API's
	num, isNum := strings.CutPrefix(te.Value, "number ")
	integer := te.Type != nil && te.Type.Kind() >= reflect.Int && te.Type.Kind() <= reflect.Uint64
	switch {
	case isNum && integer && strings.ContainsAny(num, ".eE"):
		return badRequest(field, "%s must be an integer, got %s", field, num)
	case isNum:
		return badRequest(field, "%s is out of range: %s", field, num)
	}
	return badRequest(field, "%s: wrong type: %s is not %s", field, te.Value, te.Type)
}

// inRange checks an integer parameter, naming the bound it breaks.
func inRange(param string, v, lo, hi int64) *apiError {
	switch {
	case v < lo:
		return badRequest(param, "%s must be at least %d, got %d", param, lo, v)
	case v > hi:
		return badRequest(param, "%s is too large: it must be at most %d, got %d", param, hi, v)
	}
	return nil
}

// maxStops bounds the stop strings of a request: each is looked for after
// every token. TGI and LoRAX allow 4 by default.
const maxStops = 64

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
	// A list whose first item is no string is refused before it is decoded
	// into a list of strings as long as itself.
	if promptShape(raw) == '[' && !emptyList(raw) || json.Unmarshal(raw, &many) != nil {
		return nil, badRequest("stop", "stop must be a string or a list of strings")
	}
	if len(many) > maxStops {
		return nil, arrayTooLong("stop", maxStops, len(many))
	}
	for _, s := range many {
		if s == "" {
			return nil, badRequest("stop", "stop strings must not be empty")
		}
	}
	return many, nil
}

// floats sets the engine's float32 sampling fields, refusing values a float32
// cannot hold (they would reach the engine as infinities).
func (c *commonParams) floats(sp *enginev1.SamplingParams) *apiError {
	for _, f := range []struct {
		param string
		v     *float64
		def   float32
		dst   *float32
	}{
		{"temperature", c.Temperature, 1, &sp.Temperature},
		{"top_p", c.TopP, 1, &sp.TopP},
		{"min_p", c.MinP, 0, &sp.MinP},
		{"repetition_penalty", c.RepetitionPenalty, 1, &sp.RepetitionPenalty},
		{"frequency_penalty", c.FrequencyPenalty, 0, &sp.FrequencyPenalty},
		{"presence_penalty", c.PresencePenalty, 0, &sp.PresencePenalty},
	} {
		*f.dst = f.def
		if f.v == nil {
			continue
		}
		if math.Abs(*f.v) > math.MaxFloat32 {
			return badRequest(f.param, "%s is out of range: %v", f.param, *f.v)
		}
		*f.dst = float32(*f.v)
	}
	return nil
}

// sampling maps the OpenAI fields onto the engine's. defaultMax is the endpoint's
// max_tokens default (0: up to the context), maxParam the field name to blame.
func (c *commonParams) sampling(maxTokens *int64, maxParam string, defaultMax uint32) (*enginev1.SamplingParams, *apiError) {
	sp := &enginev1.SamplingParams{MaxTokens: defaultMax, IgnoreEos: c.IgnoreEOS}
	if e := c.floats(sp); e != nil {
		return nil, e
	}
	if maxTokens != nil {
		if e := inRange(maxParam, *maxTokens, 1, math.MaxInt32); e != nil {
			return nil, e
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
		// -1 is vLLM's and LoRAX's "disabled", as 0 is.
		if e := inRange("top_k", *c.TopK, -1, math.MaxInt32); e != nil {
			return nil, e
		}
		sp.TopK = uint32(max(*c.TopK, 0))
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
	if e := inRange("n", *c.N, 1, maxN); e != nil {
		return 0, e
	}
	return int(*c.N), nil
}

// completionRequest is POST /v1/completions.
type completionRequest struct {
	commonParams
	Prompt   json.RawMessage `json:"prompt"`
	Logprobs *int64          `json:"logprobs"`
	Echo     bool            `json:"echo"`
	BestOf   *int            `json:"best_of"`
	Suffix   *string         `json:"suffix"`
}

// prompt accepts a string, a one-element list of strings, or a list of token ids.
// It decodes the prompt once, as the type its first character announces: a
// failed attempt as the wrong list type would still build a list as long as
// the prompt (millions of empty strings for a long list of ids).
func (c *completionRequest) prompt() (*enginev1.GenerateRequest, *apiError) {
	if len(c.Prompt) == 0 || string(c.Prompt) == "null" {
		return nil, badRequest("prompt", "you must provide a prompt")
	}
	switch promptShape(c.Prompt) {
	case '"':
		var s string
		if json.Unmarshal(c.Prompt, &s) == nil {
			return &enginev1.GenerateRequest{Prompt: &enginev1.GenerateRequest_Text{Text: s}}, nil
		}
	case 's':
		var list []string
		if json.Unmarshal(c.Prompt, &list) == nil {
			if len(list) != 1 {
				return nil, badRequest("prompt", "a list of %d prompts is not supported; send one prompt per request", len(list))
			}
			return &enginev1.GenerateRequest{Prompt: &enginev1.GenerateRequest_Text{Text: list[0]}}, nil
		}
	case '[':
		// Sized once from the commas (at least 2 bytes of JSON an id), so
		// the ids cost at most twice their JSON, with no growing garbage.
		ids := make([]int32, 0, bytes.Count(c.Prompt, []byte{','})+1)
		if json.Unmarshal(c.Prompt, &ids) == nil && len(ids) > 0 {
			return &enginev1.GenerateRequest{Prompt: &enginev1.GenerateRequest_TokenIds{TokenIds: &enginev1.TokenIds{Ids: ids}}}, nil
		}
	}
	return nil, badRequest("prompt", "prompt must be a string, a list of one string, or a list of token ids")
}

// promptShape tells a raw prompt's kind from its first characters: '"' a
// string, 's' a list whose first item is a string, '[' any other list, 0
// anything else.
func promptShape(raw json.RawMessage) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	switch {
	case len(raw) == 0:
		return 0
	case raw[0] == '"':
		return '"'
	case raw[0] != '[':
		return 0
	}
	if item := bytes.TrimLeft(raw[1:], " \t\r\n"); len(item) > 0 && item[0] == '"' {
		return 's'
	}
	return '['
}
