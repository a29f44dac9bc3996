package grammar

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// propertyOrders maps the path of every schema object holding "properties" to
// its property names in document order, which decoding into a map loses.
func propertyOrders(schema []byte) map[string][]string {
	dec := json.NewDecoder(bytes.NewReader(schema))
	dec.UseNumber()
	out := map[string][]string{}
	walkOrder(dec, "", out)
	return out
}

// walkOrder reads one value at path; it gives up quietly on malformed input,
// which Compile has already refused.
func walkOrder(dec *json.Decoder, path string, out map[string][]string) bool {
	tok, err := dec.Token()
	if err != nil {
		return false
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return true
	}
	switch d {
	case '[':
		for i := 0; dec.More(); i++ {
			if !walkOrder(dec, path+"/"+strconv.Itoa(i), out) {
				return false
			}
		}
	case '{':
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return false
			}
			key, _ := kt.(string)
			if key == "properties" {
				if !propertyKeys(dec, path, out) {
					return false
				}
				continue
			}
			if !walkOrder(dec, path+"/"+key, out) {
				return false
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err == nil
}

func propertyKeys(dec *json.Decoder, path string, out map[string][]string) bool {
	tok, err := dec.Token()
	if err != nil {
		return false
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		if ok {
			return skipRest(dec, d)
		}
		return true
	}
	var names []string
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return false
		}
		name, _ := kt.(string)
		names = append(names, name)
		if !walkOrder(dec, path+"/properties/"+name, out) {
			return false
		}
	}
	out[path] = names
	_, err = dec.Token()
	return err == nil
}

func skipRest(dec *json.Decoder, d json.Delim) bool {
	if d != '[' {
		return true
	}
	for dec.More() {
		if !walkOrder(dec, "", map[string][]string{}) {
			return false
		}
	}
	_, err := dec.Token()
	return err == nil
}
