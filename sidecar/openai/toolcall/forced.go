package toolcall

import (
	"encoding/json"
	"strings"
)

// Partial is a call of a forced choice's output as far as it has come: its
// name once whole, and the arguments' text so far (a prefix of the final
// arguments).
type Partial struct {
	Name string
	Args string
	Done bool
}

// ScanForced reads the calls of a forced choice's output while it is being
// generated: [{"name": "...", "parameters": {...}}, ...] with whitespace
// between tokens, the form generation was constrained to. It stops at the
// first thing it cannot read yet.
func ScanForced(text string) []Partial {
	s := scanner{text: text}
	if !s.lit("[") {
		return nil
	}
	var out []Partial
	for {
		if !s.lit("{") || !s.lit(`"name"`) || !s.lit(":") {
			return out
		}
		name, ok := s.str()
		if !ok || !s.lit(",") || !s.lit(`"parameters"`) || !s.lit(":") {
			return out
		}
		s.ws()
		args, done := s.value()
		out = append(out, Partial{Name: name, Args: args, Done: done})
		if !done || !s.lit("}") || !s.lit(",") {
			return out
		}
	}
}

type scanner struct {
	text string
	i    int
}

func (s *scanner) ws() {
	for s.i < len(s.text) && strings.IndexByte(" \t\n\r", s.text[s.i]) >= 0 {
		s.i++
	}
}

// lit reads optional whitespace then tok.
func (s *scanner) lit(tok string) bool {
	s.ws()
	if !strings.HasPrefix(s.text[s.i:], tok) {
		return false
	}
	s.i += len(tok)
	return true
}

// str reads a whole JSON string.
func (s *scanner) str() (string, bool) {
	s.ws()
	if s.i >= len(s.text) || s.text[s.i] != '"' {
		return "", false
	}
	for j := s.i + 1; j < len(s.text); j++ {
		switch s.text[j] {
		case '\\':
			j++
		case '"':
			var v string
			if json.Unmarshal([]byte(s.text[s.i:j+1]), &v) != nil {
				return "", false
			}
			s.i = j + 1
			return v, true
		}
	}
	return "", false
}

// value reads a JSON object or array as far as the text goes, reporting
// whether it closed.
func (s *scanner) value() (string, bool) {
	start, depth, inStr := s.i, 0, false
	for j := s.i; j < len(s.text); j++ {
		c := s.text[j]
		switch {
		case inStr && c == '\\':
			j++
		case inStr:
			inStr = c != '"'
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				s.i = j + 1
				return s.text[start:s.i], true
			}
		}
	}
	s.i = len(s.text)
	return s.text[start:], false
}
