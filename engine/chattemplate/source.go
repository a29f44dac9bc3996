package chattemplate

import (
	"regexp"
	"strings"
)

// normalizeSource applies the two source rewrites Python Jinja2's lexer
// makes with its defaults (newline_sequence="\n", keep_trailing_newline=False)
// that the Go library does not: every \r\n or \r becomes \n, and one
// trailing newline is dropped.
func normalizeSource(src string) string {
	if strings.ContainsRune(src, '\r') {
		src = strings.ReplaceAll(src, "\r\n", "\n")
		src = strings.ReplaceAll(src, "\r", "\n")
	}
	return strings.TrimSuffix(src, "\n")
}

// macroGuardCall is the statement put at the top of every macro body. It
// calls a global that counts macro calls, so that runaway recursion ends
// in an error rather than overflowing the Go stack (which kills the whole
// process and cannot be recovered).
const macroGuardCall = "{% set __graft_macro_guard = __graft_macro_enter() "

var endRawRe = regexp.MustCompile(`\{%[-+]?\s*endraw\s*[-+]?%\}`)

// guardMacros inserts macroGuardCall right after each {% macro ... %} tag.
// The inserted tag copies the macro tag's closing whitespace marker
// ("-%}" or "%}"), so trim_blocks and explicit trimming act on the
// text after it exactly as they acted after the macro tag. Comments,
// expressions, string literals and raw blocks are skipped.
func guardMacros(src string) string {
	var out strings.Builder
	i := 0
	for i < len(src) {
		open := nextTagOpen(src, i)
		if open < 0 {
			break
		}
		end := tagEnd(src, open)
		if end < 0 {
			break // unterminated: the library reports the syntax error
		}
		out.WriteString(src[i:end])
		i = end
		if src[open+1] != '%' {
			continue
		}
		switch tagWord(src[open+2 : end-2]) {
		case "macro":
			out.WriteString(macroGuardCall)
			out.WriteString(closer(src[:end]))
		case "raw":
			loc := endRawRe.FindStringIndex(src[i:])
			if loc == nil {
				continue
			}
			out.WriteString(src[i : i+loc[1]])
			i += loc[1]
		}
	}
	out.WriteString(src[i:])
	return out.String()
}

// nextTagOpen finds the next "{{", "{%" or "{#" at or after i.
func nextTagOpen(src string, i int) int {
	for {
		j := strings.IndexByte(src[i:], '{')
		if j < 0 || i+j+1 >= len(src) {
			return -1
		}
		switch src[i+j+1] {
		case '{', '%', '#':
			return i + j
		}
		i += j + 1
	}
}

// tagEnd returns the index just past the tag opened at open, skipping
// quoted strings inside expression and statement tags.
func tagEnd(src string, open int) int {
	kind := src[open+1]
	if kind == '#' {
		k := strings.Index(src[open+2:], "#}")
		if k < 0 {
			return -1
		}
		return open + 2 + k + 2
	}
	want := byte('}')
	if kind == '%' {
		want = '%'
	}
	var quote byte
	depth := 0 // dict literals inside {{ }} hold "}}" of their own
	for k := open + 2; k < len(src); k++ {
		c := src[k]
		switch {
		case quote != 0:
			if c == '\\' {
				k++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == want && depth == 0 && k+1 < len(src) && src[k+1] == '}':
			return k + 2
		case c == '{':
			depth++
		case c == '}' && depth > 0:
			depth--
		}
	}
	return -1
}

// tagWord is the statement keyword of a tag's inner text.
func tagWord(inner string) string {
	inner = strings.TrimLeft(inner, "-+")
	inner = strings.TrimLeft(inner, " \t\n")
	n := 0
	for n < len(inner) && (inner[n] == '_' || inner[n] >= 'a' && inner[n] <= 'z' || inner[n] >= 'A' && inner[n] <= 'Z') {
		n++
	}
	return inner[:n]
}

// closer is the closing delimiter, with its whitespace marker, of the tag
// that ends at the end of s.
func closer(s string) string {
	if len(s) >= 3 {
		if s[len(s)-3] == '-' {
			return "-%}"
		}
	}
	return "%}"
}
