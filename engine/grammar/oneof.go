package grammar

import "bytes"

// oneOf compiles oneOf when no document can match two of its schemas, so
// generating any one of them validates: alternatives that start with
// different bytes (an object, a string, null, ...), or objects told apart by
// a required property of disjoint constant values (a discriminated union, as
// pydantic writes them). Other oneOfs are refused.
func (c *compiler) oneOf(v any, path string) (*node, error) {
	alt, err := c.anyOf(v, path)
	if err != nil {
		return nil, invalid("oneOf", path, "%v", err)
	}
	if disjointStarts(alt.alts) || discriminated(alt.alts) {
		return alt, nil
	}
	return nil, invalid("oneOf", path, "only a oneOf whose schemas no document can match twice (different types, or objects with a required property of distinct constants) is supported")
}

// resolve looks through $ref holders; nil for a holder still being compiled.
func resolve(n *node) *node {
	for n != nil && n.kind == kindAlt && len(n.alts) == 1 {
		n = n.alts[0]
	}
	if n != nil && n.kind == kindAlt && len(n.alts) == 0 {
		return nil
	}
	return n
}

func disjointStarts(alts []*node) bool {
	var seen [256]bool
	for _, a := range alts {
		var mine [256]bool
		if !firstBytes(a, &mine, 0) {
			return false
		}
		for b, in := range mine {
			if in && seen[b] {
				return false
			}
			seen[b] = seen[b] || in
		}
	}
	return true
}

// firstBytes marks the bytes a value of n can start with; false when it
// cannot tell.
func firstBytes(n *node, set *[256]bool, depth int) bool {
	n = resolve(n)
	if n == nil || depth > maxAltDepth {
		return false
	}
	switch n.kind {
	case kindAlt:
		for _, a := range n.alts {
			if !firstBytes(a, set, depth+1) {
				return false
			}
		}
	case kindObject:
		set['{'] = true
	case kindArray:
		set['['] = true
	case kindString:
		set['"'] = true
	case kindNumber, kindInteger:
		for _, b := range []byte("-0123456789") {
			set[b] = true
		}
	case kindLiteral:
		for _, l := range n.lits {
			set[l[0]] = true
		}
	}
	return true
}

// discriminated reports whether every alternative is an object with a
// required property, the same name in all, whose constant values no two
// alternatives share.
func discriminated(alts []*node) bool {
	objs := make([]*node, len(alts))
	for i, a := range alts {
		if objs[i] = resolve(a); objs[i] == nil || objs[i].kind != kindObject {
			return false
		}
	}
	for _, p := range objs[0].props {
		if p.required && distinctConstants(objs, p.key) {
			return true
		}
	}
	return false
}

func distinctConstants(objs []*node, key []byte) bool {
	var seen [][]byte
	for _, o := range objs {
		var lits [][]byte
		for _, p := range o.props {
			if bytes.Equal(p.key, key) && p.required {
				if v := resolve(p.val); v != nil && v.kind == kindLiteral {
					lits = v.lits
				}
			}
		}
		if lits == nil {
			return false
		}
		for _, l := range lits {
			for _, s := range seen {
				if bytes.Equal(l, s) {
					return false
				}
			}
		}
		seen = append(seen, lits...)
	}
	return true
}
