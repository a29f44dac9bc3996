package grammar

import (
	"fmt"
	"regexp/syntax"
	"unicode"
)

// regex is a compiled pattern run as an NFA, one thread per matcher stack: a
// stack sits at one rune-consuming instruction, and the instructions a rune
// leads to fork the stack. Patterns must match the whole string: a string
// that matches anchored also matches JSON Schema's unanchored search.
type regex struct {
	prog       *syntax.Prog
	start      []int32 // consuming instructions reachable before any rune
	startMatch bool    // the empty string matches
	next       [][]int32
	nextMatch  []bool
	// compile-time scratch: closures' total work left, and visit marks
	budget int
	seen   []uint32
	mark   uint32
}

// maxRegexWork bounds the instructions all closures may visit together: a
// pattern like (a?){300} has closures as long as itself at every position.
const maxRegexWork = 1 << 18

func compileRegex(expr string) (*regex, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, err
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, err
	}
	if len(prog.Inst) > maxRegexInsts {
		return nil, fmt.Errorf("the pattern compiles to %d instructions, more than %d", len(prog.Inst), maxRegexInsts)
	}
	r := &regex{prog: prog, next: make([][]int32, len(prog.Inst)), nextMatch: make([]bool, len(prog.Inst)),
		budget: maxRegexWork, seen: make([]uint32, 2*len(prog.Inst))}
	if r.start, r.startMatch, err = r.closure(uint32(prog.Start), true); err != nil {
		return nil, err
	}
	for pc, in := range prog.Inst {
		if !consumes(in.Op) {
			continue
		}
		if r.next[pc], r.nextMatch[pc], err = r.closure(in.Out, false); err != nil {
			return nil, err
		}
	}
	r.prune()
	r.seen = nil
	return r, nil
}

// prune drops the instructions from which no match is reachable, so a thread
// never enters a state it cannot finish ("a$b" has such).
func (r *regex) prune() {
	live := make([]bool, len(r.next))
	for changed := true; changed; {
		changed = false
		for pc, next := range r.next {
			if live[pc] || !consumes(r.prog.Inst[pc].Op) {
				continue
			}
			ok := r.nextMatch[pc]
			for _, n := range next {
				ok = ok || live[n]
			}
			if ok {
				live[pc], changed = true, true
			}
		}
	}
	keep := func(pcs []int32) []int32 {
		out := pcs[:0]
		for _, pc := range pcs {
			if live[pc] {
				out = append(out, pc)
			}
		}
		return out
	}
	r.start = keep(r.start)
	for pc := range r.next {
		r.next[pc] = keep(r.next[pc])
	}
}

func consumes(op syntax.InstOp) bool {
	switch op {
	case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
		return true
	}
	return false
}

// closure lists the consuming instructions reachable from pc without input,
// and whether a match is. Anchors are honoured: ^ only at the start (atStart),
// $ only where nothing follows; ^ and $ of (?m) lines are taken as the text's,
// which never allows a string the pattern refuses. Word boundaries would need
// the next rune and are refused.
func (r *regex) closure(pc uint32, atStart bool) ([]int32, bool, error) {
	type item struct {
		pc  uint32
		end bool // past a $: only a match may follow
	}
	var out []int32
	match := false
	r.mark++
	stack := []item{{pc: pc}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		slot := 2 * it.pc
		if it.end {
			slot++
		}
		if r.seen[slot] == r.mark {
			continue
		}
		r.seen[slot] = r.mark
		if r.budget--; r.budget < 0 {
			return nil, false, fmt.Errorf("the pattern is too complex to enforce")
		}
		in := r.prog.Inst[it.pc]
		switch in.Op {
		case syntax.InstMatch:
			match = true
		case syntax.InstAlt, syntax.InstAltMatch:
			stack = append(stack, item{in.Arg, it.end}, item{in.Out, it.end})
		case syntax.InstCapture, syntax.InstNop:
			stack = append(stack, item{in.Out, it.end})
		case syntax.InstEmptyWidth:
			op := syntax.EmptyOp(in.Arg)
			if op&(syntax.EmptyWordBoundary|syntax.EmptyNoWordBoundary) != 0 {
				return nil, false, fmt.Errorf("word boundaries (\\b, \\B) are not supported")
			}
			if op&(syntax.EmptyBeginText|syntax.EmptyBeginLine) != 0 && !atStart {
				continue
			}
			end := it.end || op&(syntax.EmptyEndText|syntax.EmptyEndLine) != 0
			stack = append(stack, item{in.Out, end})
		case syntax.InstFail:
		default:
			if !it.end {
				out = append(out, int32(it.pc))
			}
		}
	}
	return out, match, nil
}

// accepts reports whether the instruction at pc takes rune c.
func (r *regex) accepts(pc int32, c rune) bool {
	in := &r.prog.Inst[pc]
	switch in.Op {
	case syntax.InstRuneAny:
		return true
	case syntax.InstRuneAnyNotNL:
		return c != '\n'
	}
	return in.MatchRune(c)
}

// intersects reports whether the instruction at pc takes some rune in lo..hi.
func (r *regex) intersects(pc int32, lo, hi rune) bool {
	in := &r.prog.Inst[pc]
	switch in.Op {
	case syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
		return true // lo..hi is a multi-byte range: never just '\n'
	}
	if len(in.Rune) == 1 {
		c := in.Rune[0]
		if c >= lo && c <= hi {
			return true
		}
		if syntax.Flags(in.Arg)&syntax.FoldCase != 0 {
			for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
				if f >= lo && f <= hi {
					return true
				}
			}
		}
		return false
	}
	for i := 0; i+1 < len(in.Rune); i += 2 {
		if in.Rune[i] <= hi && in.Rune[i+1] >= lo {
			return true
		}
	}
	return false
}
