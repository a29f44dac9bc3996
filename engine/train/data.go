package train

import (
	"fmt"

	"github.com/graft-ai/graft/engine/chattemplate"
	"github.com/graft-ai/graft/engine/tokenizer"
	"github.com/graft-ai/graft/finetune/dataset"
)

// sample is one tokenized example: targets[i] is the token position i must
// predict, -1 where the next token is not in the loss.
type sample struct {
	tokens, targets []int32
	line            int
}

// encoder turns examples into samples the way the server would see them: chat
// through the model's template (ChatML when it has none, as the server does),
// prompt/completion as BOS + prompt + completion + EOS.
type encoder struct {
	tok    *tokenizer.Tokenizer
	chat   *chattemplate.Template
	vars   map[string]any
	eos    int32
	maxLen int
}

func (e *encoder) encode(ex dataset.Example) (sample, error) {
	var ids []int32
	var learned []bool
	var err error
	if ex.IsChat() {
		ids, learned, err = e.chatTokens(ex.Messages)
	} else {
		ids, learned, err = e.completionTokens(ex.Prompt, ex.Completion)
	}
	if err != nil {
		return sample{}, fmt.Errorf("line %d: %w", ex.Line, err)
	}
	if len(ids) > e.maxLen {
		ids, learned = ids[:e.maxLen], learned[:e.maxLen]
	}
	s := sample{tokens: ids, targets: make([]int32, len(ids)), line: ex.Line}
	for i := range s.targets {
		s.targets[i] = -1
		if i+1 < len(ids) && learned[i+1] {
			s.targets[i] = ids[i+1]
		}
	}
	return s, nil
}

func (e *encoder) completionTokens(prompt, completion string) ([]int32, []bool, error) {
	ids, err := e.tok.Encode(prompt+completion, true)
	if err != nil {
		return nil, nil, err
	}
	ids = append(ids, e.eos)
	p, err := e.tok.Encode(prompt, true)
	if err != nil {
		return nil, nil, err
	}
	learned := make([]bool, len(ids))
	for i := commonPrefix(p, ids); i < len(ids); i++ {
		learned[i] = true
	}
	return ids, learned, nil
}

// chatTokens renders the whole conversation once and marks each learned
// assistant turn: the tokens between the rendering of the turns before it
// (with the generation prompt) and the rendering that includes it. Prefixes
// are matched on tokens, so a merge across a boundary counts as the turn's.
func (e *encoder) chatTokens(msgs []dataset.Message) ([]int32, []bool, error) {
	cm := make([]chattemplate.Message, len(msgs))
	for i, m := range msgs {
		cm[i] = chattemplate.Message{Role: m.Role, Content: m.Content}
	}
	render := func(n int, gen bool) ([]int32, error) {
		text, err := e.chat.Render(cm[:n], gen, e.vars)
		if err != nil {
			return nil, fmt.Errorf("chat template: %w", err)
		}
		return e.tok.Encode(text, false)
	}
	ids, err := render(len(cm), false)
	if err != nil {
		return nil, nil, err
	}
	learned := make([]bool, len(ids))
	for i, m := range msgs {
		if !m.Learned() {
			continue
		}
		before, err := render(i, true)
		if err != nil {
			return nil, nil, err
		}
		with, err := render(i+1, false)
		if err != nil {
			return nil, nil, err
		}
		for j := commonPrefix(before, ids); j < commonPrefix(with, ids); j++ {
			learned[j] = true
		}
	}
	return ids, learned, nil
}

func commonPrefix(a, b []int32) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// encodeAll tokenizes examples, dropping those left with nothing to learn
// (after truncation); it says how many were dropped.
func (e *encoder) encodeAll(exs []dataset.Example) ([]sample, int, error) {
	out := make([]sample, 0, len(exs))
	dropped := 0
	for _, ex := range exs {
		s, err := e.encode(ex)
		if err != nil {
			return nil, 0, err
		}
		if (&packed{targets: s.targets}).lossTokens() == 0 {
			dropped++
			continue
		}
		out = append(out, s)
	}
	return out, dropped, nil
}
