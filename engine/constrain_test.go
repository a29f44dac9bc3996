package engine

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/graft-ai/graft/engine/grammar"
)

const personSchema = `{"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer"},"pets":{"type":"array","items":{"enum":["cat","dog"]},"maxItems":3},"role":{"anyOf":[{"type":"null"},{"$ref":"#/$defs/role"}]}},"required":["name","age","pets","role"],"additionalProperties":false,"$defs":{"role":{"type":"string","pattern":"^[a-z]{2,6}$"}}}`

func compileSchema(t testing.TB, schema string) (*grammar.Grammar, *jsonschema.Schema) {
	t.Helper()
	g, err := grammar.Compile([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("s.json", doc); err != nil {
		t.Fatal(err)
	}
	v, err := c.Compile("s.json")
	if err != nil {
		t.Fatal(err)
	}
	return g, v
}

// The model's outputs under a schema, greedy and sampled with many seeds,
// parse and validate, and end by themselves (stop, not length).
func TestConstrainedOutputsValidate(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{})
	g, val := compileSchema(t, personSchema)
	prompt, _ := l.Tokenizer.Encode("Once upon a time", true)
	check := func(ev Event) {
		t.Helper()
		if ev.Finish != FinishStop {
			t.Fatalf("finish %q after %q", ev.Finish, ev.Text)
		}
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(ev.Text))
		if err != nil {
			t.Fatalf("output does not parse: %v: %q", err, ev.Text)
		}
		if err := val.Validate(doc); err != nil {
			t.Fatalf("output does not validate: %v: %q", err, ev.Text)
		}
	}
	check(run(t, e, Request{Prompt: prompt, Sampling: greedyParams(), MaxTokens: 400, Grammar: g}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := e.Generate(ctx, Request{Prompt: prompt, Sampling: seededParams(11), MaxTokens: 400, Grammar: g, N: 24})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range s.CollectN(ctx, 24) {
		check(ev)
	}
}

var objectStart = regexp.MustCompile(`^\s*\{\s*"`)

// The tiny model rambles inside the strings of a free object and seldom
// closes it within max_tokens; every output is an object's beginning, and
// those that end parse (the grammar tests cover completion).
func TestJSONObjectOutput(t *testing.T) {
	l := loadStories(t, "hf")
	e := newEngine(t, l, Config{})
	prompt, _ := l.Tokenizer.Encode("Tom had a", true)
	for seed := range uint64(8) {
		ev := run(t, e, Request{Prompt: prompt, Sampling: seededParams(seed), MaxTokens: 120, Grammar: grammar.JSONObject()})
		if !objectStart.MatchString(ev.Text) {
			t.Fatalf("seed %d: %q does not open an object with a key", seed, ev.Text)
		}
		if ev.Finish == FinishLength {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(ev.Text), &obj); err != nil {
			t.Fatalf("seed %d: not a JSON object: %v: %q", seed, err, ev.Text)
		}
	}
}

// An unconstrained sequence batched with a constrained one gives the tokens
// it gives alone: masks touch only their own sequence's row.
func TestConstraintLeavesNeighboursAlone(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{})
	g, _ := compileSchema(t, `{"type":"string","minLength":100000}`)
	prompt, _ := l.Tokenizer.Encode("Once upon a time", true)
	alone := ids(run(t, e, Request{Prompt: prompt, Sampling: seededParams(3), MaxTokens: 40, IgnoreEOS: true}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := e.Generate(ctx, Request{Prompt: prompt, Sampling: seededParams(3), MaxTokens: 40, Grammar: g})
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.Generate(ctx, Request{Prompt: prompt, Sampling: seededParams(3), MaxTokens: 40, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	got, constrained := u.Collect(ctx), c.Collect(ctx)
	if !slices.Equal(ids(got), alone) {
		t.Fatalf("beside a constrained sequence: %v, alone: %v", ids(got), alone)
	}
	if !strings.HasPrefix(strings.TrimSpace(constrained.Text), `"`) || constrained.Finish != FinishLength {
		t.Fatalf("constrained: %q (%s)", constrained.Text, constrained.Finish)
	}
}

// Every schema of the grammar's feature tests, through the real model with
// several seeds: each output that ends validates. The tiny model seldom closes
// an unbounded array or string within max_tokens (those outputs are cut, as
// OpenAI's are), so only the total of ended outputs is held to a floor.
func TestModelOutputsValidatePerFeature(t *testing.T) {
	l := loadStories(t, "gguf")
	e := newEngine(t, l, Config{MaxNumSeqs: 16})
	data, err := os.ReadFile("grammar/testdata/schemas.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	prompt, _ := l.Tokenizer.Encode("Once upon a time", true)
	const n = 12
	total := 0
	for _, c := range cases {
		g, val := compileSchema(t, string(c.Schema))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		s, err := e.Generate(ctx, Request{Prompt: prompt, Sampling: seededParams(1), MaxTokens: 250, Grammar: g, N: n})
		if err != nil {
			t.Fatal(err)
		}
		ended := 0
		for _, ev := range s.CollectN(ctx, n) {
			if ev.Finish != FinishStop {
				continue
			}
			ended++
			doc, err := jsonschema.UnmarshalJSON(strings.NewReader(ev.Text))
			if err != nil {
				t.Fatalf("%s: output does not parse: %v: %q", c.Name, err, ev.Text)
			}
			if err := val.Validate(doc); err != nil {
				t.Fatalf("%s: output does not validate: %v: %q", c.Name, err, ev.Text)
			}
		}
		cancel()
		t.Logf("%s: %d of %d outputs ended", c.Name, ended, n)
		total += ended
	}
	if total < len(cases)*n/2 {
		t.Fatalf("only %d of %d outputs ended", total, len(cases)*n)
	}
}
