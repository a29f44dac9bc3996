package grammar

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// byteVocab is every single byte plus a few longer tokens, so walks cross
// token boundaries inside strings, keys and literals.
func byteVocab() *Vocab {
	texts := [][]byte{nil} // id 0 ends the output
	for b := range 256 {
		texts = append(texts, []byte{byte(b)})
	}
	for _, s := range []string{`{"`, `":`, `",`, `"}`, "true", "null", "ab", "é", "😀", `\n`, "12", ".5e", "  "} {
		texts = append(texts, []byte(s))
	}
	return NewVocab(len(texts), texts, []int32{0})
}

// FuzzCompile feeds arbitrary schemas to the compiler: it either refuses one
// with an UnsupportedError or compiles it, and every output a random walk
// completes then parses, and validates when the reference validator takes
// the schema too.
func FuzzCompile(f *testing.F) {
	for _, c := range schemaCases {
		f.Add([]byte(c.schema), uint64(1))
	}
	f.Add([]byte(`{"anyOf":[{"$ref":"#"},{"type":"null"}]}`), uint64(2))
	f.Add([]byte(`{"type":"string","pattern":"[^a]*é{2}"}`), uint64(3))
	v := byteVocab()
	f.Fuzz(func(t *testing.T, schema []byte, seed uint64) {
		g, err := Compile(schema)
		if err != nil {
			var ue *UnsupportedError
			if !errors.As(err, &ue) || ue.Feature == "" {
				t.Fatalf("error %v is not an UnsupportedError naming a feature", err)
			}
			return
		}
		val := fuzzValidator(schema)
		rng := rand.New(rand.NewPCG(seed, 1))
		for range 3 {
			out, ok := walk(t, g, v, rng, 200)
			if !ok {
				continue
			}
			if !json.Valid(out) {
				t.Fatalf("output is not JSON: %q", out)
			}
			if val == nil {
				continue
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
			if err != nil {
				t.Fatalf("output does not parse: %v: %q", err, out)
			}
			if err := val.Validate(doc); err != nil {
				t.Fatalf("output does not validate: %v\n%q", err, out)
			}
		}
	})
}

func fuzzValidator(schema []byte) *jsonschema.Schema {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(schema)))
	if err != nil {
		return nil
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if c.AddResource("s.json", doc) != nil {
		return nil
	}
	s, err := c.Compile("s.json")
	if err != nil {
		return nil
	}
	return s
}
