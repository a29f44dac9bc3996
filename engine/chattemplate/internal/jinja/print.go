package jinja

// This file is not part of ardanlabs/jinja v1.8.0: bounded versions of
// the value walks (printing, comparing, converting) that upstream does
// with unbounded recursion. A list may hold itself, or hold one big
// string many times, so every walk charges steps and bytes as it goes
// and nests at most MaxDepth levels.

import (
	"fmt"
	"strconv"
)

// print is the upstream printValue: the text a value renders as.
func (b *budget) print(v Value) string {
	switch v.kind {
	case KindBool:
		if v.AsBool() {
			return "True"
		}
		return "False"
	case KindInt:
		return strconv.FormatInt(v.AsInt(), 10)
	case KindFloat:
		return fmt.Sprintf("%g", v.AsFloat())
	case KindString:
		return v.AsString()
	case KindList, KindDict:
		return b.repr(v)
	}
	return ""
}

// repr is the upstream Value.String: a Python-style representation.
func (b *budget) repr(v Value) string {
	w := builder{b: b}
	b.writeRepr(&w, v)
	return w.String()
}

func (b *budget) writeRepr(w *builder, v Value) {
	b.step(1)
	switch v.kind {
	case KindString:
		w.WriteString("'")
		w.WriteString(v.AsString())
		w.WriteString("'")
	case KindList:
		b.enter()
		w.WriteString("[")
		for i, item := range v.AsList().Items {
			if i > 0 {
				w.WriteString(", ")
			}
			b.writeRepr(w, item)
		}
		w.WriteString("]")
		b.leave()
	case KindDict:
		b.enter()
		d := v.AsDict()
		w.WriteString("{")
		for i, key := range d.Keys {
			if i > 0 {
				w.WriteString(", ")
			}
			w.WriteString("'")
			w.WriteString(key)
			w.WriteString("': ")
			b.writeRepr(w, d.Data[key])
		}
		w.WriteString("}")
		b.leave()
	default:
		w.WriteString(v.String())
	}
}

// equal is Value.Equals, charging a step per value compared.
func (b *budget) equal(x, y Value) bool {
	b.step(1)
	if x.kind != y.kind || (x.kind != KindList && x.kind != KindDict) {
		return x.Equals(y)
	}
	b.enter()
	defer b.leave()
	if x.kind == KindList {
		xs, ys := x.AsList(), y.AsList()
		if xs.Len() != ys.Len() {
			return false
		}
		for i := range xs.Items {
			if !b.equal(xs.Items[i], ys.Items[i]) {
				return false
			}
		}
		return true
	}
	xd, yd := x.AsDict(), y.AsDict()
	if xd.Len() != yd.Len() {
		return false
	}
	for _, key := range xd.Keys {
		yv, ok := yd.Get(key)
		if !ok || !b.equal(xd.Data[key], yv) {
			return false
		}
	}
	return true
}

// toGo is the upstream valueToGo, charging each list and dict it builds
// and the bytes of each string, since the JSON encoder copies them.
func (b *budget) toGo(v Value) any {
	b.step(1)
	switch v.kind {
	case KindBool:
		return v.AsBool()
	case KindInt:
		return v.AsInt()
	case KindFloat:
		return v.AsFloat()
	case KindString:
		b.charge(int64(len(v.AsString())))
		return v.AsString()
	case KindList:
		b.enter()
		defer b.leave()
		list := v.AsList()
		b.items(list.Len())
		out := make([]any, list.Len())
		for i, item := range list.Items {
			out[i] = b.toGo(item)
		}
		return out
	case KindDict:
		b.enter()
		defer b.leave()
		d := v.AsDict()
		b.items(d.Len())
		out := make(map[string]any, d.Len())
		for _, key := range d.Keys {
			out[key] = b.toGo(d.Data[key])
		}
		return out
	}
	return nil
}

// rangeLen is len(range(start, stop, step)) as an int, saturating, so
// that it can be charged before the list is built. Wrapping subtraction
// gives the right unsigned distance even at the int64 extremes.
func rangeLen(start, stop, step int64) int {
	var n uint64
	switch {
	case step > 0 && start < stop:
		n = (uint64(stop-start)-1)/uint64(step) + 1
	case step < 0 && start > stop:
		n = (uint64(start-stop)-1)/uint64(-step) + 1
	}
	if n > 1<<40 {
		return 1 << 40
	}
	return int(n)
}

// jsonShape walks v as tojson will and returns the compact JSON size
// (strings unescaped), the number of values and the deepest nesting,
// stopping at the output limit.
func (b *budget) jsonShape(v Value) (size, nodes int64, depth int) {
	var walk func(v Value, d int)
	walk = func(v Value, d int) {
		b.step(1)
		nodes++
		depth = max(depth, d)
		if size > int64(b.lim.MaxOutputBytes) {
			b.fail("output", int64(b.lim.MaxOutputBytes))
		}
		switch v.kind {
		case KindString:
			size += int64(len(v.AsString())) + 2
		case KindList:
			b.enter()
			size += 2
			for _, item := range v.AsList().Items {
				size += 2
				walk(item, d+1)
			}
			b.leave()
		case KindDict:
			b.enter()
			size += 2
			dict := v.AsDict()
			for _, key := range dict.Keys {
				size += int64(len(key)) + 6
				walk(dict.Data[key], d+1)
			}
			b.leave()
		default:
			size += 24
		}
	}
	walk(v, 0)
	return size, nodes, depth
}
