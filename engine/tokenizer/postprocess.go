package tokenizer

import (
	"encoding/json"
	"fmt"
)

// template is a single-sequence TemplateProcessing: the ids to put before and after the
// encoded text when special tokens are requested.
type template struct {
	prefix, suffix []int32
}

func (t *template) apply(ids []int32, addSpecial bool) []int32 {
	if t == nil || !addSpecial || (len(t.prefix) == 0 && len(t.suffix) == 0) {
		return ids
	}
	out := make([]int32, 0, len(t.prefix)+len(ids)+len(t.suffix))
	out = append(out, t.prefix...)
	out = append(out, ids...)
	return append(out, t.suffix...)
}

// parsePostProcessor reduces the post-processors that add tokens to a template. Pair
// templates are irrelevant here: Graft encodes single sequences only.
func parsePostProcessor(raw json.RawMessage) (*template, error) {
	if isNull(raw) {
		return nil, nil
	}
	var t typed
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("post_processor: %w", err)
	}
	switch t.Type {
	case "ByteLevel":
		return nil, nil // only trims offsets
	case "TemplateProcessing":
		return parseTemplate(raw)
	case "BertProcessing", "RobertaProcessing":
		var v struct {
			Sep [2]json.RawMessage `json:"sep"`
			Cls [2]json.RawMessage `json:"cls"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("post_processor %s: %w", t.Type, err)
		}
		var cls, sep int32
		if err := json.Unmarshal(v.Cls[1], &cls); err != nil {
			return nil, fmt.Errorf("post_processor %s cls: %w", t.Type, err)
		}
		if err := json.Unmarshal(v.Sep[1], &sep); err != nil {
			return nil, fmt.Errorf("post_processor %s sep: %w", t.Type, err)
		}
		return &template{prefix: []int32{cls}, suffix: []int32{sep}}, nil
	case "Sequence":
		var v struct {
			Processors []json.RawMessage `json:"processors"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("post_processor Sequence: %w", err)
		}
		var out *template
		for _, r := range v.Processors {
			p, err := parsePostProcessor(r)
			if err != nil {
				return nil, err
			}
			if p == nil {
				continue
			}
			if out != nil {
				return nil, fmt.Errorf("post_processor Sequence: more than one processor adds tokens")
			}
			out = p
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported post_processor type %q", t.Type)
}

func parseTemplate(raw json.RawMessage) (*template, error) {
	type ref struct {
		ID string `json:"id"`
	}
	var v struct {
		Single []struct {
			Sequence     *ref `json:"Sequence"`
			SpecialToken *ref `json:"SpecialToken"`
		} `json:"single"`
		SpecialTokens map[string]struct {
			IDs []int32 `json:"ids"`
		} `json:"special_tokens"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("post_processor TemplateProcessing: %w", err)
	}
	t := &template{}
	seen := false
	for _, p := range v.Single {
		switch {
		case p.Sequence != nil:
			if seen || p.Sequence.ID != "A" {
				return nil, fmt.Errorf("post_processor TemplateProcessing: single template must hold sequence A exactly once")
			}
			seen = true
		case p.SpecialToken != nil:
			st, ok := v.SpecialTokens[p.SpecialToken.ID]
			if !ok {
				return nil, fmt.Errorf("post_processor TemplateProcessing: special token %q not defined", p.SpecialToken.ID)
			}
			if seen {
				t.suffix = append(t.suffix, st.IDs...)
			} else {
				t.prefix = append(t.prefix, st.IDs...)
			}
		default:
			return nil, fmt.Errorf("post_processor TemplateProcessing: unknown template piece")
		}
	}
	if !seen {
		return nil, fmt.Errorf("post_processor TemplateProcessing: single template lacks sequence A")
	}
	return t, nil
}
