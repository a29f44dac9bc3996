// Package grammar constrains generation to JSON: a JSON schema (or "any JSON
// object") compiles into a pushdown automaton over bytes, and a Matcher follows
// one sequence's output through it, telling the sampler at each step which
// tokens of the vocabulary keep the output a prefix of a valid document.
//
// The automaton is nondeterministic: a Matcher holds the set of stacks the
// bytes so far can be in (anyOf, enums and regular-expression alternatives
// fork; dead stacks drop out), so no lookahead is ever needed. A step's token
// mask walks a byte trie of the vocabulary (built once per tokenizer) from the
// current stacks, pruning every subtree whose prefix no stack accepts; masks
// are cached per compiled schema keyed by the stacks themselves, so the
// repeated states of long documents (inside a free string, between array
// items) cost a map lookup. This is the approach of llguidance's token trie
// walk with outlines' and xgrammar's per-schema mask caching, written anew.
//
// Generation is canonical where JSON Schema leaves a choice: object properties
// come in the schema's order (optional ones may be skipped), and properties a
// schema does not declare are only generated when additionalProperties says
// they may be, so every document validates against the schema.
package grammar
