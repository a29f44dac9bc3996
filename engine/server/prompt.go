package server

import "fmt"

// shrinkFactor is how many input bytes a normalizer may fold into one byte of
// a vocabulary piece (NFKC maps a 3-byte full-width letter to a 1-byte one),
// rounded up.
const shrinkFactor = 4

// promptByteBound is the longest text that can still encode to fewer tokens
// than the context holds: no token stands for more than maxTokenBytes bytes of
// normalized text, nor for more than shrinkFactor times that of input.
func promptByteBound(maxModelLen, maxTokenBytes int) int {
	return maxModelLen * maxTokenBytes * shrinkFactor
}

// encodePrompt tokenizes a prompt text, first refusing one so long that it
// cannot fit the context: encoding tens of megabytes costs seconds of CPU
// that a request must not be able to buy.
func (s *Server) encodePrompt(field, text string, addSpecial bool) ([]int32, error) {
	if len(text) > s.maxPromptBytes {
		return nil, invalid(field, fmt.Sprintf("this model's maximum context length is %d tokens; the prompt's %d bytes of text encode to more tokens than that",
			s.eng.Config().MaxModelLen, len(text)))
	}
	ids, err := s.eng.Loaded().Tokenizer.Encode(text, addSpecial)
	if err != nil {
		return nil, invalid(field, err.Error())
	}
	return ids, nil
}
