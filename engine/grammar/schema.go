package grammar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

type kind uint8

const (
	kindAlt      kind = iota // one of alts
	kindObject               // props in order, then extra keys
	kindArray                // items, minItems..maxItems of them
	kindString               // a string, maybe matching re
	kindNumber               // any JSON number
	kindInteger              // a JSON number without fraction or exponent
	kindLiteral              // one of lits, JSON text byte for byte
	kindDocument             // the whole output: alts[0], then nothing
)

// node is one compiled schema.
type node struct {
	id   int32
	kind kind
	alts []*node
	// kindObject
	props   []prop
	extra   *node  // the schema of keys not in props; nil: no such keys
	reqFrom []bool // reqFrom[i]: a required property is at index i or later
	// kindArray
	items              *node   // past the prefix; nil: none
	prefix             []*node // prefixItems: the schemas of the first items
	minItems, maxItems int     // maxItems < 0: unbounded
	// kindString
	re             *regex
	minLen, maxLen int // maxLen < 0: unbounded
	// kindLiteral: sorted, without repeats, so the literals sharing a prefix
	// are a run of them
	lits [][]byte
	// kindNumber, kindInteger: minimum and maximum; nil: none
	bounds *bounds
	// productive: some finite value matches (see markProductive)
	productive bool
}

type prop struct {
	key      []byte // the key as JSON text, quotes included
	val      *node
	required bool
}

// Limits keep compiled schemas and the documents they allow bounded.
const (
	maxNodes      = 10000
	maxLiterals   = 1000
	maxRegexInsts = 4000
	maxRefDepth   = 64
)

// UnsupportedError names a schema feature the compiler does not handle (or a
// schema it cannot satisfy), with the JSON pointer of where it occurs.
type UnsupportedError struct {
	Feature string
	Path    string
	Msg     string
}

func (e *UnsupportedError) Error() string {
	p := e.Path
	if p == "" {
		p = "#"
	}
	if e.Msg != "" {
		return fmt.Sprintf("json schema %s at %s: %s", e.Feature, p, e.Msg)
	}
	return fmt.Sprintf("json schema feature '%s' (at %s) is not supported for constrained decoding", e.Feature, p)
}

// Grammar is a compiled schema. It is immutable and safe for concurrent use;
// its Matchers share the cache of token masks.
type Grammar struct {
	doc   *node
	nodes int
}

func newGrammar(c *compiler, root *node) (*Grammar, error) {
	markProductive(c.all)
	if !root.productive {
		return nil, invalid("$ref", "", "no finite document matches the schema (its references recurse without end)")
	}
	return &Grammar{doc: &node{id: -2, kind: kindDocument, alts: []*node{root}}, nodes: len(c.all)}, nil
}

// markProductive finds the nodes some finite value matches, by fixpoint. The
// matcher never starts an unproductive node: it could never finish.
func markProductive(all []*node) {
	for changed := true; changed; {
		changed = false
		for _, n := range all {
			if !n.productive && productive(n) {
				n.productive, changed = true, true
			}
		}
	}
}

func productive(n *node) bool {
	switch n.kind {
	case kindAlt:
		for _, a := range n.alts {
			if a.productive {
				return true
			}
		}
		return false
	case kindObject:
		for _, p := range n.props {
			if p.required && !p.val.productive {
				return false
			}
		}
		return true
	case kindArray:
		for i := range int32(n.minItems) {
			if it := n.item(i); it == nil || !it.productive {
				return false
			}
			if int(i) >= len(n.prefix) {
				break // the rest are items alike
			}
		}
		return true
	case kindString:
		return n.re == nil || n.re.startMatch || len(n.re.start) > 0
	}
	return true
}

// JSONObject returns the grammar of any JSON object (OpenAI's json_object
// response format).
func JSONObject() *Grammar {
	c := &compiler{}
	anyV := c.anyValue()
	obj := c.node(kindObject)
	obj.extra = anyV
	obj.reqFrom = []bool{false}
	g, _ := newGrammar(c, obj)
	return g
}

// Compile compiles a JSON schema. Schema features outside the supported set
// are refused with an *UnsupportedError naming them.
func Compile(schema []byte) (*Grammar, error) {
	dec := json.NewDecoder(bytes.NewReader(schema))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, &UnsupportedError{Feature: "document", Msg: "not valid JSON: " + err.Error()}
	}
	if dec.More() {
		return nil, &UnsupportedError{Feature: "document", Msg: "trailing data after the schema"}
	}
	c := &compiler{doc: doc, refs: map[string]*node{}, orders: propertyOrders(schema)}
	root, err := c.compile(doc, "")
	if err != nil {
		return nil, err
	}
	return newGrammar(c, root)
}

type compiler struct {
	doc      any
	refs     map[string]*node
	next     int32
	refDepth int
	anyNode  *node
	all      []*node
	orders   map[string][]string // property names in document order, by schema path
}

func (c *compiler) node(k kind) *node {
	n := &node{id: c.next, kind: k, maxItems: -1, maxLen: -1}
	c.next++
	c.all = append(c.all, n)
	return n
}

// anyValue is the node of any JSON value.
func (c *compiler) anyValue() *node {
	if c.anyNode != nil {
		return c.anyNode
	}
	a := c.node(kindAlt)
	c.anyNode = a
	obj := c.node(kindObject)
	obj.extra, obj.reqFrom = a, []bool{false}
	arr := c.node(kindArray)
	arr.items = a
	lit := c.node(kindLiteral)
	lit.lits = sortedLiterals([]byte("true"), []byte("false"), []byte("null"))
	a.alts = []*node{obj, arr, c.node(kindString), c.node(kindNumber), lit}
	return a
}

// annotations are keywords that do not constrain values.
var annotations = map[string]bool{
	"$schema": true, "$id": true, "$comment": true, "title": true, "description": true,
	"default": true, "examples": true, "deprecated": true, "readOnly": true, "writeOnly": true,
	"$defs": true, "definitions": true, "strict": true, "$anchor": true, "discriminator": true,
}

// handled are the keywords compile reads; anything else is refused.
var handled = map[string]bool{
	"type": true, "enum": true, "const": true, "anyOf": true, "oneOf": true, "allOf": true, "$ref": true,
	"properties": true, "required": true, "additionalProperties": true,
	"items": true, "minItems": true, "maxItems": true, "uniqueItems": true,
	"prefixItems": true, "additionalItems": true,
	"pattern": true, "format": true, "minLength": true, "maxLength": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true,
}

func unsupported(feature, path string) error {
	return &UnsupportedError{Feature: feature, Path: path}
}

func invalid(feature, path, format string, args ...any) error {
	return &UnsupportedError{Feature: feature, Path: path, Msg: fmt.Sprintf(format, args...)}
}

func (c *compiler) compile(s any, path string) (*node, error) {
	if c.next > maxNodes {
		return nil, invalid("size", path, "the schema compiles to more than %d nodes", maxNodes)
	}
	switch v := s.(type) {
	case bool:
		if !v {
			return nil, invalid("false", path, "a false schema allows no value")
		}
		return c.anyValue(), nil
	case map[string]any:
		return c.compileObject(v, path)
	}
	return nil, invalid("schema", path, "a schema must be an object or a boolean")
}

func (c *compiler) compileObject(s map[string]any, path string) (*node, error) {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !handled[k] && !annotations[k] {
			if k == "" {
				return nil, unsupported(`""`, path+"/")
			}
			return nil, unsupported(k, path+"/"+k)
		}
	}
	if ref, ok := s["$ref"]; ok {
		if len(s) > 1 && hasConstraint(s, "$ref") {
			return nil, invalid("$ref", path, "$ref beside other constraints is not supported")
		}
		r, ok := ref.(string)
		if !ok {
			return nil, invalid("$ref", path, "$ref must be a string")
		}
		return c.ref(r, path)
	}
	if lits, ok, err := c.literals(s, path); ok || err != nil {
		return lits, err
	}
	if all, ok := s["allOf"]; ok {
		// One subschema is that schema; zod writes a described $ref so.
		list, isList := all.([]any)
		if !isList || len(list) != 1 || hasConstraint(s, "allOf") {
			return nil, invalid("allOf", path+"/allOf", "only an allOf of one schema, with nothing beside it, is supported")
		}
		return c.compile(list[0], path+"/allOf/0")
	}
	if alts, ok := s["oneOf"]; ok {
		if hasConstraint(s, "oneOf") {
			return nil, invalid("oneOf", path, "oneOf beside other constraints is not supported; move them into the alternatives")
		}
		return c.oneOf(alts, path+"/oneOf")
	}
	if alts, ok := s["anyOf"]; ok {
		if hasConstraint(s, "anyOf") {
			return nil, invalid("anyOf", path, "anyOf beside other constraints is not supported; move them into the alternatives")
		}
		return c.anyOf(alts, path+"/anyOf")
	}
	types, err := schemaTypes(s, path)
	if err != nil {
		return nil, err
	}
	alt := c.node(kindAlt)
	for _, t := range types {
		n, err := c.typed(t, s, path)
		if err != nil {
			return nil, err
		}
		alt.alts = append(alt.alts, n)
	}
	if len(alt.alts) == 1 {
		return alt.alts[0], nil
	}
	return alt, nil
}

// hasConstraint reports whether s has keywords other than annotations and except.
func hasConstraint(s map[string]any, except string) bool {
	for k := range s {
		if k != except && !annotations[k] {
			return true
		}
	}
	return false
}

var allTypes = []string{"object", "array", "string", "number", "boolean", "null"}

func schemaTypes(s map[string]any, path string) ([]string, error) {
	t, ok := s["type"]
	if !ok {
		// Without a type the keywords present say which types are meant.
		switch {
		case s["properties"] != nil || s["additionalProperties"] != nil || s["required"] != nil:
			return []string{"object"}, nil
		case s["items"] != nil || s["prefixItems"] != nil || s["minItems"] != nil || s["maxItems"] != nil:
			return []string{"array"}, nil
		case s["pattern"] != nil || s["format"] != nil || s["minLength"] != nil || s["maxLength"] != nil:
			return []string{"string"}, nil
		case s["minimum"] != nil || s["maximum"] != nil || s["exclusiveMinimum"] != nil || s["exclusiveMaximum"] != nil:
			return []string{"number"}, nil
		}
		return allTypes, nil
	}
	var out []string
	switch v := t.(type) {
	case string:
		out = []string{v}
	case []any:
		for _, x := range v {
			str, ok := x.(string)
			if !ok {
				return nil, invalid("type", path+"/type", "type must be a string or a list of strings")
			}
			out = append(out, str)
		}
	default:
		return nil, invalid("type", path+"/type", "type must be a string or a list of strings")
	}
	if len(out) == 0 {
		return nil, invalid("type", path+"/type", "an empty list of types allows no value")
	}
	for _, x := range out {
		if x != "integer" && !slices.Contains(allTypes, x) {
			return nil, invalid("type", path+"/type", "unknown type %q", x)
		}
	}
	return out, nil
}

func (c *compiler) typed(t string, s map[string]any, path string) (*node, error) {
	switch t {
	case "object":
		return c.object(s, path)
	case "array":
		return c.array(s, path)
	case "string":
		return c.str(s, path)
	case "number", "integer":
		b, err := numberBounds(s, path, t == "number")
		if err != nil {
			return nil, err
		}
		k := kindNumber
		if t == "integer" {
			k = kindInteger
		}
		n := c.node(k)
		n.bounds = b
		return n, nil
	case "boolean":
		n := c.node(kindLiteral)
		n.lits = sortedLiterals([]byte("true"), []byte("false"))
		return n, nil
	}
	n := c.node(kindLiteral)
	n.lits = [][]byte{[]byte("null")}
	return n, nil
}

// literals compiles const and enum: the values' JSON text, matched exactly.
func (c *compiler) literals(s map[string]any, path string) (*node, bool, error) {
	var vals []any
	if v, ok := s["const"]; ok {
		vals = []any{v}
	} else if e, ok := s["enum"]; ok {
		list, ok := e.([]any)
		if !ok || len(list) == 0 {
			return nil, true, invalid("enum", path+"/enum", "enum must be a non-empty list")
		}
		vals = list
	} else {
		return nil, false, nil
	}
	if len(vals) > maxLiterals {
		return nil, true, invalid("enum", path+"/enum", "more than %d values", maxLiterals)
	}
	n := c.node(kindLiteral)
	for _, v := range vals {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, true, invalid("enum", path, "%v", err)
		}
		n.lits = append(n.lits, b)
	}
	n.lits = sortedLiterals(n.lits...)
	return n, true, nil
}

func (c *compiler) anyOf(v any, path string) (*node, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, invalid("anyOf", path, "anyOf must be a non-empty list of schemas")
	}
	alt := c.node(kindAlt)
	for i, sub := range list {
		n, err := c.compile(sub, path+"/"+strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		alt.alts = append(alt.alts, n)
	}
	return alt, nil
}

// ref resolves a JSON pointer into this document; a recursive reference gets
// the node being compiled, so recursive schemas compile to cycles.
func (c *compiler) ref(r, path string) (*node, error) {
	if !strings.HasPrefix(r, "#") {
		return nil, invalid("$ref", path+"/$ref", "only references within the schema (#...) are supported, got %q", r)
	}
	if n, ok := c.refs[r]; ok {
		return n, nil
	}
	if c.refDepth >= maxRefDepth {
		return nil, invalid("$ref", path+"/$ref", "references nest more than %d deep", maxRefDepth)
	}
	target, err := c.pointer(r[1:])
	if err != nil {
		return nil, invalid("$ref", path+"/$ref", "%v", err)
	}
	holder := c.node(kindAlt) // filled below; recursive uses see it now
	c.refs[r] = holder
	c.refDepth++
	n, err := c.compile(target, r[1:])
	c.refDepth--
	if err != nil {
		return nil, err
	}
	holder.alts = []*node{n}
	return holder, nil
}

func (c *compiler) pointer(p string) (any, error) {
	p, err := url.PathUnescape(p)
	if err != nil {
		return nil, err
	}
	cur := c.doc
	if p == "" {
		return cur, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("%q is not a JSON pointer", p)
	}
	for _, tok := range strings.Split(p[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[tok]
			if !ok {
				return nil, fmt.Errorf("%q names nothing in the schema", p)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(v) {
				return nil, fmt.Errorf("%q names nothing in the schema", p)
			}
			cur = v[i]
		default:
			return nil, fmt.Errorf("%q names nothing in the schema", p)
		}
	}
	return cur, nil
}

func (c *compiler) object(s map[string]any, path string) (*node, error) {
	n := c.node(kindObject)
	req := map[string]bool{}
	if r, ok := s["required"]; ok {
		list, ok := r.([]any)
		if !ok {
			return nil, invalid("required", path+"/required", "required must be a list of strings")
		}
		for _, x := range list {
			name, ok := x.(string)
			if !ok {
				return nil, invalid("required", path+"/required", "required must be a list of strings")
			}
			req[name] = true
		}
	}
	if p, ok := s["properties"]; ok {
		m, ok := p.(map[string]any)
		if !ok {
			return nil, invalid("properties", path+"/properties", "properties must be an object")
		}
		for _, name := range propertyOrder(c, s, path) {
			val, err := c.compile(m[name], path+"/properties/"+name)
			if err != nil {
				return nil, err
			}
			key, _ := json.Marshal(name)
			n.props = append(n.props, prop{key: key, val: val, required: req[name]})
			delete(req, name)
		}
	}
	for name := range req {
		return nil, invalid("required", path+"/required", "required property %q is not in properties", name)
	}
	extra, err := c.additional(s, path, len(n.props) > 0)
	if err != nil {
		return nil, err
	}
	n.extra = extra
	n.reqFrom = make([]bool, len(n.props)+1)
	for i := len(n.props) - 1; i >= 0; i-- {
		n.reqFrom[i] = n.reqFrom[i+1] || n.props[i].required
	}
	return n, nil
}

// additional compiles additionalProperties. Absent means none are generated
// (every document still validates); extra keys beside declared properties
// are refused, since a generated key could repeat a declared one.
func (c *compiler) additional(s map[string]any, path string, hasProps bool) (*node, error) {
	a, ok := s["additionalProperties"]
	if !ok {
		if _, hasP := s["properties"]; !hasP {
			return c.anyValue(), nil
		}
		return nil, nil
	}
	if b, isBool := a.(bool); isBool && !b {
		return nil, nil
	}
	if hasProps {
		return nil, unsupported("additionalProperties", path+"/additionalProperties")
	}
	return c.compile(a, path+"/additionalProperties")
}

// propertyOrder lists the properties in the order the schema text gives them:
// models follow the order a schema shows, and so do its users.
func propertyOrder(c *compiler, s map[string]any, path string) []string {
	m := s["properties"].(map[string]any)
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	if order, ok := c.orders[path]; ok && sameSet(order, names) {
		return order
	}
	return names
}

func (c *compiler) array(s map[string]any, path string) (*node, error) {
	n := c.node(kindArray)
	if u, ok := s["uniqueItems"]; ok && u != false {
		return nil, unsupported("uniqueItems", path+"/uniqueItems")
	}
	var err error
	if n.minItems, err = count(s, "minItems", path, 0); err != nil {
		return nil, err
	}
	if n.maxItems, err = count(s, "maxItems", path, -1); err != nil {
		return nil, err
	}
	if n.maxItems >= 0 && n.maxItems < n.minItems {
		return nil, invalid("maxItems", path+"/maxItems", "maxItems %d is below minItems %d", n.maxItems, n.minItems)
	}
	// Tuples: prefixItems (2020-12), or items as a list (draft 7) with
	// additionalItems for the rest.
	prefix, rest, restKey := s["prefixItems"], s["items"], "items"
	if list, isList := rest.([]any); isList {
		if prefix != nil {
			return nil, invalid("items", path+"/items", "items as a list beside prefixItems")
		}
		prefix, rest, restKey = list, s["additionalItems"], "additionalItems"
	} else if s["additionalItems"] != nil {
		return nil, unsupported("additionalItems", path+"/additionalItems")
	}
	if prefix != nil {
		list, isList := prefix.([]any)
		if !isList {
			return nil, invalid("prefixItems", path+"/prefixItems", "prefixItems must be a list of schemas")
		}
		for i, sub := range list {
			item, err := c.compile(sub, path+"/prefixItems/"+strconv.Itoa(i))
			if err != nil {
				return nil, err
			}
			n.prefix = append(n.prefix, item)
		}
	}
	switch {
	case rest == nil:
		n.items = c.anyValue()
	case rest == false:
		n.items = nil // no items past the prefix
	default:
		if n.items, err = c.compile(rest, path+"/"+restKey); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// item is the schema of item i of an array (nil: none may be there).
func (n *node) item(i int32) *node {
	if int(i) < len(n.prefix) {
		return n.prefix[i]
	}
	return n.items
}

// canItem reports whether an array may have an item i.
func (n *node) canItem(i int32) bool {
	it := n.item(i)
	return it != nil && it.productive && (n.maxItems < 0 || int(i) < n.maxItems)
}

// maxCount bounds minItems, maxLength and the like: the counts live in the
// matcher's state.
const maxCount = 1 << 20

func count(s map[string]any, key, path string, def int) (int, error) {
	v, ok := s[key]
	if !ok {
		return def, nil
	}
	num, ok := v.(json.Number)
	if !ok {
		return 0, invalid(key, path+"/"+key, "%s must be a non-negative integer", key)
	}
	f, err := num.Float64()
	if err != nil || f < 0 || f != math.Trunc(f) {
		return 0, invalid(key, path+"/"+key, "%s must be a non-negative integer", key)
	}
	if f > maxCount {
		return 0, invalid(key, path+"/"+key, "%s above %d is not supported", key, maxCount)
	}
	return int(f), nil
}

func (c *compiler) str(s map[string]any, path string) (*node, error) {
	n := c.node(kindString)
	var err error
	if n.minLen, err = count(s, "minLength", path, 0); err != nil {
		return nil, err
	}
	if n.maxLen, err = count(s, "maxLength", path, -1); err != nil {
		return nil, err
	}
	if n.maxLen >= 0 && n.maxLen < n.minLen {
		return nil, invalid("maxLength", path+"/maxLength", "maxLength %d is below minLength %d", n.maxLen, n.minLen)
	}
	pat, hasPat := s["pattern"]
	f, hasFormat := s["format"]
	if hasPat && hasFormat {
		return nil, invalid("pattern", path, "pattern and format together are not supported")
	}
	expr := ""
	switch {
	case hasPat:
		p, ok := pat.(string)
		if !ok {
			return nil, invalid("pattern", path+"/pattern", "pattern must be a string")
		}
		expr = p
	case hasFormat:
		name, ok := f.(string)
		if !ok {
			return nil, invalid("format", path+"/format", "format must be a string")
		}
		if expr, ok = formats[name]; !ok {
			return nil, unsupported("format "+strconv.Quote(name), path+"/format")
		}
	default:
		return n, nil
	}
	if n.re, err = compileRegex(expr); err != nil {
		return nil, invalid("pattern", path, "%v", err)
	}
	return n, nil
}

// formats are the string formats generated, as regular expressions that only
// match valid values (dates stop at the 28th, so every month has them).
var formats = map[string]string{
	"date":      `[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])`,
	"time":      `([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])`,
	"date-time": `[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])`,
	"uuid":      `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`,
	"email":     `[a-zA-Z0-9_+-]{1,20}(\.[a-zA-Z0-9_+-]{1,20}){0,2}@[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?){0,4}\.[a-zA-Z]{2,8}`,
	"ipv4":      `((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])`,
	"hostname":  `[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,20}[a-zA-Z0-9])?){0,8}`,
}

func sameSet(order, sorted []string) bool {
	o := slices.Clone(order)
	slices.Sort(o)
	return slices.Equal(o, sorted)
}

func sortedLiterals(lits ...[]byte) [][]byte {
	slices.SortFunc(lits, bytes.Compare)
	return slices.CompactFunc(lits, bytes.Equal)
}
