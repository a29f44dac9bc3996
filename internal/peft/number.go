package peft

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// pythonJSON rewrites the bare NaN, Infinity and -Infinity that Python's json
// module writes (and so PEFT, for a float that overflowed in training) into
// strings, so that the file parses and the field they stand in is refused with
// a message that names it, instead of a syntax error at a byte offset. Only
// bytes outside JSON strings are touched.
func pythonJSON(data []byte) []byte {
	var out []byte // nil until the first rewrite: most files need none
	inString, escaped := false, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case inString:
			inString = escaped || c != '"'
			escaped = !escaped && c == '\\'
		case c == '"':
			inString = true
		default:
			if tok := pythonToken(data[i:]); tok != "" {
				if out == nil {
					out = append(make([]byte, 0, len(data)+8), data[:i]...)
				}
				out = append(out, '"')
				out = append(out, tok...)
				out = append(out, '"')
				i += len(tok) - 1
				continue
			}
		}
		if out != nil {
			out = append(out, c)
		}
	}
	if out == nil {
		return data
	}
	return out
}

func pythonToken(b []byte) string {
	for _, tok := range []string{"NaN", "Infinity", "-Infinity"} {
		if len(b) >= len(tok) && string(b[:len(tok)]) == tok {
			return tok
		}
	}
	return ""
}

// number reads a JSON number field, keeping its literal text for messages.
func number(key string, raw json.RawMessage) (float64, string, error) {
	if isNull(raw) {
		return 0, "", fmt.Errorf("%s is missing", key)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "NaN", "Infinity", "-Infinity":
			return 0, s, fmt.Errorf("%s = %s: must be a finite number", key, s)
		}
		return 0, "", fmt.Errorf("%s must be a number, not the string %s", key, excerpt(raw))
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, "", fmt.Errorf("%s must be a number, not %s", key, excerpt(raw))
	}
	v, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, string(n), fmt.Errorf("%s = %s is out of range: must be a finite number", key, excerpt(raw))
	}
	return v, string(n), nil
}

// rank reads a LoRA rank: a whole number of at least 1.
func rank(key string, raw json.RawMessage) (int, error) {
	v, lit, err := number(key, raw)
	if err != nil {
		return 0, err
	}
	if v != math.Trunc(v) || v < 1 || v > math.MaxInt32 {
		return 0, fmt.Errorf("%s = %s: the rank must be a whole number of at least 1", key, lit)
	}
	return int(v), nil
}

// alpha reads a LoRA alpha: finite and positive. A zero alpha turns the adapter
// off, and a negative one inverts it, which no trainer produces on purpose.
func alpha(key string, raw json.RawMessage) (float64, error) {
	v, lit, err := number(key, raw)
	if err != nil {
		return 0, err
	}
	if v <= 0 {
		return 0, fmt.Errorf("%s = %s: must be a finite positive number", key, lit)
	}
	return v, nil
}

// numberMap reads rank_pattern or alpha_pattern: module-name keys to values.
func numberMap[V any](f map[string]json.RawMessage, key string, read func(string, json.RawMessage) (V, error)) (map[string]V, error) {
	var raws map[string]json.RawMessage
	if err := decode(f, key, &raws, "an object of module names to numbers"); err != nil {
		return nil, err
	}
	out := make(map[string]V, len(raws))
	for k, raw := range raws {
		v, err := read(fmt.Sprintf("%s[%q]", key, k), raw)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}
