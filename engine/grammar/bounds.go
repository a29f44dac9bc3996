package grammar

import (
	"encoding/json"
	"math"
)

// bounds are minimum, maximum and their exclusive forms on a number. The
// matcher keeps a bounded number's integer part in the stack (frame.v) and
// lets a digit through only if some integer starting with the digits so far
// lies within the bounds; a fraction only where every value it can take does
// (so "0." under maximum 0.5 is refused: bounded numbers are generated as
// integers unless a whole unit interval fits). Exponents are refused.
type bounds struct {
	lo, hi     int64 // the integers allowed, inclusive
	min, max   float64
	minEx      bool // min is exclusive
	maxEx      bool
	hasMin     bool
	hasMax     bool
	fractional bool // a number, not an integer
}

// maxBound bounds |minimum| and |maximum|, and maxBoundedDigits the digits of
// a bounded number's integer part, so the arithmetic stays within int64.
const (
	maxBound         = 1e15
	maxBoundedDigits = 16
)

var pow10 = func() [maxBoundedDigits + 1]int64 {
	var p [maxBoundedDigits + 1]int64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// numberBounds reads the bound keywords; nil when there are none.
func numberBounds(s map[string]any, path string, fractional bool) (*bounds, error) {
	b := &bounds{lo: -(pow10[maxBoundedDigits] - 1), hi: pow10[maxBoundedDigits] - 1, fractional: fractional}
	any := false
	for _, key := range []string{"minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"} {
		raw, ok := s[key]
		if !ok {
			continue
		}
		num, ok := raw.(json.Number)
		f, err := num.Float64()
		if !ok || err != nil || math.IsNaN(f) {
			return nil, invalid(key, path+"/"+key, "%s must be a number", key)
		}
		if math.Abs(f) >= maxBound {
			return nil, invalid(key, path+"/"+key, "%s beyond ±1e15 is not supported", key)
		}
		any = true
		switch key {
		case "minimum":
			b.lo = max(b.lo, int64(math.Ceil(f)))
			b.tighterMin(f, false)
		case "exclusiveMinimum":
			b.lo = max(b.lo, int64(math.Floor(f))+1)
			b.tighterMin(f, true)
		case "maximum":
			b.hi = min(b.hi, int64(math.Floor(f)))
			b.tighterMax(f, false)
		case "exclusiveMaximum":
			b.hi = min(b.hi, int64(math.Ceil(f))-1)
			b.tighterMax(f, true)
		}
	}
	if !any {
		return nil, nil
	}
	if b.lo > b.hi {
		return nil, invalid("minimum", path, "no integer lies within the bounds (fractional ranges are generated as integers)")
	}
	return b, nil
}

func (b *bounds) tighterMin(f float64, ex bool) {
	if !b.hasMin || f > b.min || f == b.min && ex {
		b.min, b.minEx, b.hasMin = f, ex, true
	}
}

func (b *bounds) tighterMax(f float64, ex bool) {
	if !b.hasMax || f < b.max || f == b.max && ex {
		b.max, b.maxEx, b.hasMax = f, ex, true
	}
}

// viable reports whether an integer written as the digits so far (value v,
// nd digits, negative or not; nd 0 is a lone minus sign) and maybe more
// digits lies within the bounds.
func (b *bounds) viable(neg bool, v int64, nd int) bool {
	if nd == 0 {
		return overlaps(-(pow10[maxBoundedDigits] - 1), -1, b.lo, b.hi)
	}
	if nd > maxBoundedDigits {
		return false
	}
	for k := 0; nd+k <= maxBoundedDigits; k++ {
		lo, hi := v*pow10[k], v*pow10[k]+pow10[k]-1
		if neg {
			lo, hi = -hi, -lo
		}
		if overlaps(lo, hi, b.lo, b.hi) {
			return true
		}
		if v == 0 {
			break // nothing follows a leading zero
		}
	}
	return false
}

func overlaps(a, b, c, d int64) bool { return a <= d && c <= b }

// ends reports whether the integer part alone is a number within the bounds.
func (b *bounds) ends(neg bool, v int64) bool {
	if neg {
		v = -v
	}
	return v >= b.lo && v <= b.hi
}

// fraction reports whether every value with this integer part and a
// fraction lies within the bounds: [v, v+1), or (-(v+1), -v] when negative.
func (b *bounds) fraction(neg bool, v int64) bool {
	if !b.fractional {
		return false
	}
	lo, hi := float64(v), float64(v+1) // hi is never reached
	if neg {
		lo, hi = -float64(v+1), -float64(v)
		// lo is never reached, hi is.
		minOK := !b.hasMin || lo >= b.min
		maxOK := !b.hasMax || hi < b.max || hi == b.max && !b.maxEx
		return minOK && maxOK
	}
	minOK := !b.hasMin || lo > b.min || lo == b.min && !b.minEx
	maxOK := !b.hasMax || hi <= b.max
	return minOK && maxOK
}

// allows checks a bounded number's next byte, recording the integer part in
// f: the sign in k, the value in v.
func (b *bounds) allows(f *frame, next uint8, c byte) bool {
	switch next {
	case nMinus:
		f.k = 1
		return b.viable(true, 0, 0)
	case nZero, nInt:
		f.v = f.v*10 + int64(c-'0')
		return b.viable(f.k == 1, f.v, int(f.i-f.k)+1)
	case nDot:
		return b.fraction(f.k == 1, f.v)
	case nFrac:
		return true
	}
	return false // exponents
}

// endsAt reports whether a bounded number may end in f's state.
func (b *bounds) endsAt(f frame) bool {
	if f.st == nFrac {
		return true // its integer part allowed any fraction
	}
	return b.ends(f.k == 1, f.v)
}
