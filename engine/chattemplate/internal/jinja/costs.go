package jinja

// This file is not part of ardanlabs/jinja v1.8.0: what the built-in
// filters and string methods are charged before they run (see limits.go).

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// filterCost charges what a built-in filter may allocate for input in,
// before it runs. Filters whose output can be much larger than their
// input (join, tojson, indent, replace, string, batch) charge
// themselves as they build; the rest copy at most their input, so they
// are charged by its size.
func (b *budget) filterCost(name string, in Value) {
	switch name {
	case "default", "d", "first", "last", "length", "count", "int", "float",
		"round", "abs", "safe", "max", "min", "sum",
		"join", "tojson", "indent", "replace", "string":
		return
	case "fromjson", "from_json":
		if in.IsString() {
			// Decoded JSON takes far more memory than its text; 64
			// bytes a byte covers "[0,0,...]" and deep nesting.
			b.charge(64 * int64(len(in.AsString())))
		}
		return
	case "list":
		if in.IsString() {
			b.items(len(in.AsString()))
			return
		}
	}
	switch {
	case in.IsString():
		// Case changes, trimming, escaping (at most 5 bytes a byte) and
		// word counting (a string header per word).
		b.charge(8*int64(len(in.AsString())) + valueBytes)
	case in.IsList():
		b.items(2 * in.AsList().Len())
		b.step(int64(in.AsList().Len()))
	case in.IsDict():
		b.items(3 * in.AsDict().Len())
		b.step(int64(in.AsDict().Len()))
	}
}

// stringMethodCost charges what the string method about to be looked up
// may allocate. split, replace and format charge inside, once their
// arguments are known.
func (b *budget) stringMethodCost(method, s string) {
	switch method {
	case "upper", "lower":
		b.str(3 * int64(len(s)))
	case "title", "capitalize":
		b.charge(8 * int64(len(s)))
	case "count", "find", "startswith", "endswith", "replace", "split", "format":
		b.step(int64(len(s)) / 256)
	}
}

// replacedLen is len(strings.Replace(s, old, new, n)), computed without
// building it.
func replacedLen(s, old, new string, n int) int64 {
	m := 0
	if old == "" {
		m = utf8.RuneCountInString(s) + 1
	} else {
		m = strings.Count(s, old)
	}
	if n >= 0 && n < m {
		m = n
	}
	return int64(len(s)) + int64(m)*(int64(len(new))-int64(len(old)))
}

// countParts is len(strings.Split(s, sep)) without splitting.
func countParts(s, sep string) int {
	if sep == "" {
		return utf8.RuneCountInString(s)
	}
	return strings.Count(s, sep) + 1
}

// countFields is len(strings.Fields(s)) without splitting.
func countFields(s string) int {
	n, in := 0, false
	for _, r := range s {
		space := unicode.IsSpace(r)
		if !space && !in {
			n++
		}
		in = !space
	}
	return n
}
