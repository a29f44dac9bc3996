package chattemplate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"

	"github.com/graft-ai/graft/engine/chattemplate/internal/jinja"
)

// Message is one chat message. The template sees it as a dict, so both
// message['role'] and message.role work. Keys appear in the order role,
// content, name, tool_calls, tool_call_id, then Extra (sorted), which is
// the order an OpenAI client usually sends and the order tojson prints.
type Message struct {
	Role string
	// Content is a string, nil (None in the template), a list of OpenAI
	// content parts ([]map[string]any or []any), or json.RawMessage.
	Content any
	// Name, ToolCalls and ToolCallID are omitted from the dict when empty.
	Name       string
	ToolCalls  []any
	ToolCallID string
	// Extra holds any other keys (e.g. "reasoning_content"). A value of
	// type json.RawMessage keeps its object key order.
	Extra map[string]any
}

// TextMessage is a Message with string content.
func TextMessage(role, content string) Message {
	return Message{Role: role, Content: content}
}

func (m Message) value() (jinja.Value, error) {
	d := jinja.NewDict()
	dict := d.AsDict()
	dict.Set("role", jinja.NewString(m.Role))
	content, err := toValue(m.Content)
	if err != nil {
		return jinja.Value{}, fmt.Errorf("content: %w", err)
	}
	dict.Set("content", content)
	if m.Name != "" {
		dict.Set("name", jinja.NewString(m.Name))
	}
	if len(m.ToolCalls) > 0 {
		calls, err := toValue(m.ToolCalls)
		if err != nil {
			return jinja.Value{}, fmt.Errorf("tool_calls: %w", err)
		}
		dict.Set("tool_calls", calls)
	}
	if m.ToolCallID != "" {
		dict.Set("tool_call_id", jinja.NewString(m.ToolCallID))
	}
	for _, k := range sortedKeys(m.Extra) {
		v, err := toValue(m.Extra[k])
		if err != nil {
			return jinja.Value{}, fmt.Errorf("%s: %w", k, err)
		}
		dict.Set(k, v)
	}
	return d, nil
}

// maxValueDepth bounds nesting so that a cyclic or absurdly deep Go value
// becomes an error instead of a stack overflow.
const maxValueDepth = 256

// toValue turns plain Go data into template data. Only data crosses over:
// no Go method, function or pointer is ever reachable from a template,
// which is half of the sandbox (the other half is the library having no
// attribute access beyond dict keys and a fixed set of str/list/dict methods).
func toValue(v any) (jinja.Value, error) {
	return convert(v, 0)
}

func convert(v any, depth int) (jinja.Value, error) {
	if depth > maxValueDepth {
		return jinja.Value{}, fmt.Errorf("value nested deeper than %d levels", maxValueDepth)
	}
	switch x := v.(type) {
	case nil:
		return jinja.None(), nil
	case Message:
		return x.value()
	case []Message:
		items := make([]jinja.Value, len(x))
		for i, m := range x {
			mv, err := m.value()
			if err != nil {
				return jinja.Value{}, fmt.Errorf("message %d: %w", i, err)
			}
			items[i] = mv
		}
		return jinja.NewList(items), nil
	case json.RawMessage:
		return decodeJSON(x)
	case json.Number:
		return numberValue(x)
	case string:
		return jinja.NewString(x), nil
	case bool:
		return jinja.NewBool(x), nil
	case float32:
		return jinja.NewFloat(float64(x)), nil
	case float64:
		return jinja.NewFloat(x), nil
	}
	return convertReflect(reflect.ValueOf(v), depth)
}

func convertReflect(rv reflect.Value, depth int) (jinja.Value, error) {
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return jinja.NewInt(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return jinja.NewFloat(float64(u)), nil
		}
		return jinja.NewInt(int64(u)), nil
	case reflect.String:
		return jinja.NewString(rv.String()), nil
	case reflect.Bool:
		return jinja.NewBool(rv.Bool()), nil
	case reflect.Float32, reflect.Float64:
		return jinja.NewFloat(rv.Float()), nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return jinja.None(), nil
		}
		items := make([]jinja.Value, rv.Len())
		for i := range items {
			item, err := convert(rv.Index(i).Interface(), depth+1)
			if err != nil {
				return jinja.Value{}, err
			}
			items[i] = item
		}
		return jinja.NewList(items), nil
	case reflect.Map:
		return convertMap(rv, depth)
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return jinja.None(), nil
		}
		return convert(rv.Elem().Interface(), depth+1)
	}
	return jinja.Value{}, fmt.Errorf("unsupported type %s: pass plain data (strings, numbers, bools, slices, string-keyed maps)", rv.Type())
}

// convertMap sorts keys: a Go map has no order, and a fixed order keeps
// renders reproducible. Pass json.RawMessage to keep a client's key order.
func convertMap(rv reflect.Value, depth int) (jinja.Value, error) {
	if rv.Type().Key().Kind() != reflect.String {
		return jinja.Value{}, fmt.Errorf("unsupported map key type %s", rv.Type().Key())
	}
	if rv.IsNil() {
		return jinja.None(), nil
	}
	keys := make([]string, 0, rv.Len())
	for _, k := range rv.MapKeys() {
		keys = append(keys, k.String())
	}
	sort.Strings(keys)
	d := jinja.NewDict()
	dict := d.AsDict()
	for _, k := range keys {
		item, err := convert(rv.MapIndex(reflect.ValueOf(k).Convert(rv.Type().Key())).Interface(), depth+1)
		if err != nil {
			return jinja.Value{}, fmt.Errorf("%s: %w", k, err)
		}
		dict.Set(k, item)
	}
	return d, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// numberValue keeps JSON's int/float distinction the way Python's
// json.loads does: 3 is an int, 3.0 and 3e0 are floats.
func numberValue(n json.Number) (jinja.Value, error) {
	s := string(n)
	if !bytes.ContainsAny([]byte(s), ".eE") {
		if i, err := n.Int64(); err == nil {
			return jinja.NewInt(i), nil
		}
	}
	f, err := n.Float64()
	if err != nil {
		return jinja.Value{}, fmt.Errorf("number %q: %w", s, err)
	}
	return jinja.NewFloat(f), nil
}

// decodeJSON decodes one JSON value keeping object key order, as Python's
// json.loads does, so tojson in a template prints a client's tool schema
// in the order the client sent it.
func decodeJSON(data []byte) (jinja.Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return jinja.Value{}, fmt.Errorf("json: %w", err)
	}
	if _, err := dec.Token(); err == nil {
		return jinja.Value{}, fmt.Errorf("json: trailing data after value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, depth int) (jinja.Value, error) {
	if depth > maxValueDepth {
		return jinja.Value{}, fmt.Errorf("nested deeper than %d levels", maxValueDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return jinja.Value{}, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return decodeArray(dec, depth)
		}
		if t == '{' {
			return decodeObject(dec, depth)
		}
		return jinja.Value{}, fmt.Errorf("unexpected %q", t)
	case nil:
		return jinja.None(), nil
	case bool:
		return jinja.NewBool(t), nil
	case json.Number:
		return numberValue(t)
	case string:
		return jinja.NewString(t), nil
	}
	return jinja.Value{}, fmt.Errorf("unexpected token %v", tok)
}

func decodeArray(dec *json.Decoder, depth int) (jinja.Value, error) {
	var items []jinja.Value
	for dec.More() {
		item, err := decodeValue(dec, depth+1)
		if err != nil {
			return jinja.Value{}, err
		}
		items = append(items, item)
	}
	if _, err := dec.Token(); err != nil { // ']'
		return jinja.Value{}, err
	}
	return jinja.NewList(items), nil
}

func decodeObject(dec *json.Decoder, depth int) (jinja.Value, error) {
	d := jinja.NewDict()
	dict := d.AsDict()
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jinja.Value{}, err
		}
		key, ok := tok.(string)
		if !ok {
			return jinja.Value{}, fmt.Errorf("object key %v is not a string", tok)
		}
		item, err := decodeValue(dec, depth+1)
		if err != nil {
			return jinja.Value{}, err
		}
		dict.Set(key, item)
	}
	if _, err := dec.Token(); err != nil { // '}'
		return jinja.Value{}, err
	}
	return d, nil
}
