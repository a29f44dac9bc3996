// Package chattemplate renders Hugging Face chat templates (Jinja2) the way
// transformers' apply_chat_template(..., tokenize=False) does: Jinja2's
// ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the
// loopcontrols extension ({% break %}, {% continue %}), the globals
// raise_exception(msg) and strftime_now(fmt), and the variables messages,
// add_generation_prompt, the config's special tokens (bos_token,
// eos_token, unk_token, pad_token) and any extra vars (tools, documents,
// ...). Variables not given are undefined, tools and documents included.
//
// The Jinja engine is a bounded copy of github.com/ardanlabs/jinja, a Go
// Jinja built for chat templates. This package adds what Python Jinja2 does and that
// library does not: newline normalization and dropping one trailing
// newline of the source, a raise_exception that returns *TemplateError,
// strftime_now with Python's directives, order-preserving JSON input, and
// the bounds below.
//
// # Sandbox
//
// Templates see only data: Go values are copied into dicts, lists and
// scalars before rendering, so no Go method, function or pointer is
// reachable. The engine has no include, import or extends, so templates
// cannot read files.
//
// Every render runs under Limits (DefaultLimits unless RenderLimited is
// given others): the output and every string built on the way are at
// most MaxOutputBytes (1 MiB by default); the strings, lists and dicts a
// render creates total at most 16 × MaxOutputBytes, charged before they
// are allocated, so "x" * 10**12 fails without allocating; at most
// MaxSteps evaluation steps (a million) and Timeout (5 s); nesting of
// expressions, blocks, macro calls and printed values at most 1000
// levels, far from the Go stack's fatal limit; range() at most
// MaxRangeItems items and macros at most MaxMacroCalls calls per render.
// The render polls its context and stops soon after it is done. A render
// over a limit fails with a *LimitError naming the limit.
//
// The engine is a copy of ardanlabs/jinja v1.8.0 in internal/jinja,
// changed to carry these limits (its NOTICE lists the changes), since
// the library has no hooks to bound a render.
//
// # Known divergences from Python Jinja2
//
// Inherited from the library, rarely met in real templates: none prints
// as "" (Python prints "None"), an integral float prints as "2" not "2.0"
// (also in tojson, which matches transformers.js rather than Python),
// tojson(indent=n) sorts keys and escapes <, > and &, U+2028/U+2029 are
// escaped by tojson, string literals do not decode \u escapes, x/0 is 0
// rather than an error, % follows Go's sign rule, and the "+" whitespace
// modifiers ({%+ and +%}) are syntax errors.
//
// # Fallback
//
// A model without a chat template gets FallbackTemplate: ChatML, which
// was transformers' class-level default_chat_template before that default
// was removed. Each message renders as
//
//	<|im_start|>{role}\n{content}<|im_end|>\n
//
// and add_generation_prompt appends "<|im_start|>assistant\n".
package chattemplate

// FallbackTemplate is the ChatML template used for models that ship no
// chat template (transformers' former default_chat_template).
const FallbackTemplate = "{% for message in messages %}" +
	"{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}" +
	"{% endfor %}" +
	"{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
