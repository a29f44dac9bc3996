package grammar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/graft-ai/graft/engine/tokenizer"
	"github.com/graft-ai/graft/internal/testmodels"
)

// storiesVocab is the stories260K tokenizer's vocabulary: 512 SentencePiece
// pieces with byte fallback, so every byte is spellable.
func storiesVocab(t testing.TB) *Vocab {
	t.Helper()
	tok, err := tokenizer.LoadDir(testmodels.Path(t, "stories260K", "hf"))
	if err != nil {
		t.Fatal(err)
	}
	return vocabOf(tok)
}

func vocabOf(tok *tokenizer.Tokenizer) *Vocab {
	texts := make([][]byte, tok.VocabSize())
	for id := range texts {
		texts[id] = tok.TokenBytes(int32(id))
	}
	return NewVocab(len(texts), texts, tok.EOSIDs())
}

// walk generates one output by picking allowed tokens at random: freely for
// the first steps, then preferring tokens that close strings and containers,
// so the output ends. It fails the test if the mask is ever empty or a token
// from the mask is refused.
func walk(t testing.TB, g *Grammar, v *Vocab, rng *rand.Rand, steps int) ([]byte, bool) {
	t.Helper()
	m := g.NewMatcher(v)
	var out []byte
	for n := 0; n < steps; n++ {
		mask := m.Mask()
		var allowed []int32
		for id := range int32(v.size) {
			if mask.Allows(id) {
				allowed = append(allowed, id)
			}
		}
		if len(allowed) == 0 {
			t.Fatalf("empty mask after %q", out)
		}
		id := pick(v, allowed, rng, n > steps/3)
		if isEOS(v, id) {
			if !m.Accepting() {
				t.Fatalf("end of sequence allowed after incomplete %q", out)
			}
			return out, true
		}
		if !m.Advance(id) {
			t.Fatalf("token %d (%q) from the mask refused after %q", id, v.Bytes(id), out)
		}
		out = append(out, v.Bytes(id)...)
		if m.Done() {
			return out, true
		}
	}
	return out, false
}

func isEOS(v *Vocab, id int32) bool {
	for _, e := range v.eos {
		if e == id {
			return true
		}
	}
	return false
}

func pick(v *Vocab, allowed []int32, rng *rand.Rand, finish bool) int32 {
	if finish && rng.IntN(4) > 0 {
		for _, id := range allowed {
			if isEOS(v, id) {
				return id
			}
		}
		for _, want := range []string{`"`, "]", "}", ","} {
			for _, id := range allowed {
				if string(v.Bytes(id)) == want {
					return id
				}
			}
		}
	}
	return allowed[rng.IntN(len(allowed))]
}

func validator(t testing.TB, schema string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// checkOutputs generates n outputs of schema and validates each with a real
// JSON Schema validator.
func checkOutputs(t *testing.T, v *Vocab, schema string, n int) {
	t.Helper()
	g, err := Compile([]byte(schema))
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	val := validator(t, schema)
	rng := rand.New(rand.NewPCG(1, uint64(len(schema))))
	complete := 0
	for range n {
		out, ok := walk(t, g, v, rng, 400)
		if !ok {
			continue
		}
		complete++
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, out)
		}
		if err := val.Validate(doc); err != nil {
			t.Fatalf("output does not validate: %v\n%s", err, out)
		}
	}
	if complete < n/2 {
		t.Fatalf("only %d of %d walks completed", complete, n)
	}
}

// schemaCases are the schemas every feature test runs, shared with the
// engine's tests of real generations.
var schemaCases = func() []struct{ name, schema string } {
	data, err := os.ReadFile("testdata/schemas.json")
	if err != nil {
		panic(err)
	}
	var raw []struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		panic(err)
	}
	out := make([]struct{ name, schema string }, len(raw))
	for i, r := range raw {
		out[i].name, out[i].schema = r.Name, string(r.Schema)
	}
	return out
}()

func TestSchemaFeaturesValidate(t *testing.T) {
	v := storiesVocab(t)
	for _, c := range schemaCases {
		t.Run(c.name, func(t *testing.T) { checkOutputs(t, v, c.schema, 40) })
	}
}

func TestJSONObject(t *testing.T) {
	v := storiesVocab(t)
	g := JSONObject()
	rng := rand.New(rand.NewPCG(7, 7))
	complete := 0
	for range 60 {
		out, ok := walk(t, g, v, rng, 300)
		if !ok {
			continue
		}
		complete++
		var obj map[string]any
		if err := json.Unmarshal(out, &obj); err != nil {
			t.Fatalf("not a JSON object: %v\n%s", err, out)
		}
	}
	if complete < 30 {
		t.Fatalf("only %d of 60 walks completed", complete)
	}
}

// feed runs text through a fresh matcher byte by byte.
func feed(g *Grammar, text string) (alive, accepting bool) {
	cur := []*stack{{f: frame{n: g.doc}}}
	for i := range len(text) {
		if cur = step(cur, text[i], nil); len(cur) == 0 {
			return false, false
		}
	}
	m := &Matcher{cur: cur}
	return true, m.Accepting()
}

func TestAcceptsAndRefuses(t *testing.T) {
	g, err := Compile([]byte(`{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"array","items":{"type":"number"},"minItems":1,"maxItems":2},"c":{"type":"string","pattern":"^x+$"}},"required":["a","b"]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{
		`{"a":1,"b":[2]}`, `{"a": -12, "b": [1.5e3, 0]}`, `{ "a":0 ,"b":[-0.25],"c":"xxx"}`,
		"{\n  \"a\": 3,\n  \"b\": [4]\n}",
	} {
		if alive, acc := feed(g, doc); !alive || !acc {
			t.Errorf("%s: alive %v, complete %v; want a complete document", doc, alive, acc)
		}
	}
	for _, doc := range []string{
		`{"b":[1],"a":1}`, `{"a":1}`, `{"a":1.5,"b":[1]}`, `{"a":1,"b":[]}`, `{"a":1,"b":[1,2,3]}`,
		`{"a":01,"b":[1]}`, `{"a":1,"b":[1],"c":"xy"}`, `{"a":1,"b":[1],"d":1}`, `{"a":1,"b":[1]}x`,
		`{"a":1,"b":[1]}  `, `{"a":1,                "b":[1]}`,
	} {
		if alive, acc := feed(g, doc); alive && acc {
			t.Errorf("%s: taken as a complete document", doc)
		}
	}
	// A number may end the document or continue.
	top, _ := Compile([]byte(`{"type":"integer"}`))
	if alive, acc := feed(top, "12"); !alive || !acc {
		t.Fatal("12 is a complete integer document")
	}
	if alive, _ := feed(top, "123456789012345678901234567"); alive {
		t.Fatal("an unbounded number was allowed")
	}
}

func TestUnicodeAndEscapes(t *testing.T) {
	g, _ := Compile([]byte(`{"type":"string","maxLength":3}`))
	for doc, want := range map[string]bool{
		`"é√😀"`: true, `"\u00e9\n\""`: true, `"abcd"`: false, "\"\xff\"": false,
		`"\ud800"`: false, "\"\xed\xa0\x80\"": false, "\"\xc3\"": false, "\"a\x01\"": false,
	} {
		alive, acc := feed(g, doc)
		if (alive && acc) != want {
			t.Errorf("%q: complete %v, want %v", doc, alive && acc, want)
		}
	}
}

func TestUnsupportedNamesFeature(t *testing.T) {
	for schema, feature := range map[string]string{
		`{"allOf":[{"type":"string"},{"maxLength":3}]}`: "allOf",
		`{"oneOf":[{"type":"object","properties":{"a":{"const":1}},"required":["a"]},{"type":"object","properties":{"a":{"enum":[2,1]}},"required":["a"]}]}`: "oneOf",
		`{"oneOf":[{"type":"integer"},{"type":"number"}]}`:                                 "oneOf",
		`{"not":{"type":"string"}}`:                                                        "not",
		`{"type":"object","patternProperties":{"a":{}}}`:                                   "patternProperties",
		`{"type":"array","uniqueItems":true}`:                                              "uniqueItems",
		`{"$ref":"http://example.com/s.json"}`:                                             "$ref",
		`{"$ref":"#/$defs/missing"}`:                                                       "$ref",
		`{"type":"string","format":"color"}`:                                               `format "color"`,
		`{"type":"object","properties":{"a":{}},"additionalProperties":{"type":"string"}}`: "additionalProperties",
		`{"type":"string","pattern":"\\bx"}`:                                               "pattern",
		`{"type":"string","pattern":"("}`:                                                  "pattern",
		`{"type":"object","properties":{"a":{}},"required":["b"]}`:                         "required",
		`{"type":"array","prefixItems":[{"type":"string"}],"items":[{"type":"string"}]}`:   "items",
		`{"type":"array","additionalItems":false}`:                                         "additionalItems",
		`{"type":"thing"}`:                                                                 "type",
		`false`:                                                                            "false",
		`{"type":"integer","multipleOf":2}`:                                                "multipleOf",
		`[1]`:                                                                              "schema",
		`{"a":`:                                                                            "document",
	} {
		_, err := Compile([]byte(schema))
		ue, ok := err.(*UnsupportedError)
		if !ok {
			t.Errorf("%s: got %v, want an UnsupportedError", schema, err)
			continue
		}
		if ue.Feature != feature || !strings.Contains(ue.Error(), feature) {
			t.Errorf("%s: feature %q (%v), want %q", schema, ue.Feature, ue, feature)
		}
	}
}

func TestPropertyOrderFollowsSchemaText(t *testing.T) {
	g, err := Compile([]byte(`{"type":"object","properties":{"zeta":{"const":1},"alpha":{"const":2}},"required":["zeta","alpha"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if alive, acc := feed(g, `{"zeta":1,"alpha":2}`); !alive || !acc {
		t.Fatal("the schema's own order was refused")
	}
}

// Masks computed concurrently by matchers sharing a grammar agree with a
// serial computation (the engine computes them beside the forward pass).
func TestMasksConcurrent(t *testing.T) {
	v := storiesVocab(t)
	g, _ := Compile([]byte(schemaCases[0].schema))
	serial := g.NewMatcher(v).Mask().Count()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if n := g.NewMatcher(v).Mask().Count(); n != serial {
				t.Errorf("mask of %d tokens, want %d", n, serial)
			}
		})
	}
	wg.Wait()
}

// The precomputed mask of plain string text plus the walk of the other
// tokens equals a walk of the whole vocabulary.
func TestFreeStringMaskMatchesFullWalk(t *testing.T) {
	tok, err := tokenizer.LoadDir(testmodels.Path(t, "tokenizers", "smollm2-135m-instruct"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []*Vocab{storiesVocab(t), vocabOf(tok)} {
		g, err := Compile([]byte(`{"type":"object","properties":{"a":{"type":"string","maxLength":5},"b":{"type":"string"},` +
			`"c":{"anyOf":[{"type":"string","maxLength":2},{"type":"string","maxLength":4},{"type":"null"}]},` +
			`"d":{"anyOf":[{"type":"string","maxLength":3},{"type":"string"}]}},"required":["a","b","c","d"]}`))
		if err != nil {
			t.Fatal(err)
		}
		for _, prefix := range []string{`{"a":"`, `{"a":"xy`, `{"a":"wxyz`, `{"a":"", "b":"`, `{"a":"", "b":"Once upon`, `{"`,
			`{"a":"","b":"","c":"`, `{"a":"","b":"","c":"x`, `{"a":"","b":"","c":"xyz`, `{"a":"","b":"","c":"","d":"ab`} {
			alive, _ := feed(g, prefix)
			if !alive {
				t.Fatalf("%q refused", prefix)
			}
			cur := []*stack{{f: frame{n: g.doc}}}
			for i := range len(prefix) {
				cur = step(cur, prefix[i], nil)
			}
			var scratch [][]*stack
			full := newMask(v.size)
			v.all.walk(0, cur, full, &scratch, 0)
			fast, ok := v.freeString(cur, &scratch)
			if !ok {
				if prefix != `{"` {
					t.Fatalf("%q: not taken as a free string", prefix)
				}
				continue
			}
			if !slices.Equal(full, fast) {
				t.Fatalf("%q: fast mask of %d tokens, full walk %d", prefix, fast.Count(), full.Count())
			}
		}
	}
}

// An enum far larger than the stacks a matcher follows is one stack: every
// value stays reachable.
func TestLargeEnum(t *testing.T) {
	vals := make([]string, 600)
	for i := range vals {
		vals[i] = fmt.Sprintf("%q", fmt.Sprintf("v%d", i))
	}
	g, err := Compile([]byte(`{"enum":[` + strings.Join(vals, ",") + `,5,55]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{`"v599"`, `"v5"`, `"v59"`, `"v0"`, `5`, `55`} {
		if alive, acc := feed(g, doc); !alive || !acc {
			t.Errorf("%s refused", doc)
		}
	}
	for _, doc := range []string{`"v600"`, `"v"`, `6`, `555`} {
		if alive, acc := feed(g, doc); alive && acc {
			t.Errorf("%s taken", doc)
		}
	}
}

func TestNumberBounds(t *testing.T) {
	g, err := Compile([]byte(`{"type":"array","items":{"anyOf":[{"type":"integer","minimum":-5,"exclusiveMaximum":20},{"type":"number","minimum":100,"maximum":100.5}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	for doc, want := range map[string]bool{
		`[-5]`: true, `[19]`: true, `[0, 7, -0]`: true, `[100]`: true, `[100.25]`: false, `[-6]`: false, `[20]`: false,
		`[1e1]`: false, `[19.5]`: false, `[101]`: false, `[-10]`: false, `[200]`: false,
	} {
		alive, acc := feed(g, doc)
		if (alive && acc) != want {
			t.Errorf("%s: complete %v, want %v", doc, alive && acc, want)
		}
	}
	frac, _ := Compile([]byte(`{"type":"number","minimum":-2,"maximum":3}`))
	for doc, want := range map[string]bool{`2.75`: true, `-1.5`: true, `3`: true, `3.5`: false, `-2.5`: false, `-2`: true} {
		alive, acc := feed(frac, doc)
		if (alive && acc) != want {
			t.Errorf("%s: complete %v, want %v", doc, alive && acc, want)
		}
	}
}

func TestMaskCacheStaysWithinBudget(t *testing.T) {
	c := &maskCache{limit: 10 << 10}
	g, v := JSONObject(), NewVocab(4096, nil, nil)
	for i := range 100 {
		c.put(maskKey{g: g, v: v, state: fmt.Sprint(i)}, newMask(4096))
		if c.bytes > c.limit {
			t.Fatalf("after %d masks the cache holds %d bytes, over its %d", i+1, c.bytes, c.limit)
		}
	}
	if _, ok := c.get(maskKey{g: g, v: v, state: "99"}); !ok {
		t.Fatal("the latest mask is not cached")
	}
}

func TestTuples(t *testing.T) {
	g, err := Compile([]byte(`{"type":"array","prefixItems":[{"type":"integer"},{"enum":["a"]}],"items":false}`))
	if err != nil {
		t.Fatal(err)
	}
	for doc, want := range map[string]bool{`[]`: true, `[1]`: true, `[1,"a"]`: true, `["a"]`: false, `[1,"a",2]`: false, `[1,2]`: false} {
		if alive, acc := feed(g, doc); (alive && acc) != want {
			t.Errorf("%s: complete %v, want %v", doc, alive && acc, want)
		}
	}
}
