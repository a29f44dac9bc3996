package safetensors

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// file builds safetensors bytes from a literal header and n data bytes.
func file(header string, n int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, n)...)
}

func lengthOnly(n uint64) []byte { return binary.LittleEndian.AppendUint64(nil, n) }

func hostileCases() map[string]struct {
	b    []byte
	want string
} {
	type c = struct {
		b    []byte
		want string
	}
	return map[string]c{
		"short":            {[]byte{1, 2}, "too short"},
		"huge header":      {lengthOnly(1 << 62), "exceeds"},
		"over cap":         {lengthOnly(MaxHeaderSize + 1), "exceeds"},
		"header past end":  {append(lengthOnly(100), "{}"...), "only 2 follow"},
		"not object":       {file(`[1]`, 0), "start with '{'"},
		"bad json":         {file(`{"a":`, 0), "header JSON"},
		"metadata types":   {file(`{"__metadata__":{"a":1}}`, 0), "strings to strings"},
		"entry not object": {file(`{"a":3}`, 0), `tensor "a"`},
		"unknown dtype":    {file(`{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}`, 1), `unsupported dtype "Q4"`},
		"no shape":         {file(`{"a":{"dtype":"U8","data_offsets":[0,1]}}`, 1), "needs a shape"},
		"three offsets":    {file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`, 1), "two data_offsets"},
		"negative dim":     {file(`{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}`, 1), `tensor "a"`},
		"float dim":        {file(`{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}`, 1), `tensor "a"`},
		"begin > end":      {file(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[2,1]}}`, 2), "data_offsets [2, 1]"},
		"size mismatch":    {file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 4), "needs 8 bytes"},
		"shape overflow":   {file(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, 4), "overflows"},
		"bytes overflow":   {file(`{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}}`, 0), "needs"},
		"zero hides huge":  {file(`{"a":{"dtype":"U8","shape":[0,18446744073709551615,18446744073709551615],"data_offsets":[0,0]}}`, 0), "overflows"},
		"past end":         {file(`{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}`, 4), "runs past the data area"},
		"offset huge":      {file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551614,18446744073709551615]}}`, 4), "data_offsets"},
		"overlap":          {file(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}`, 6), "overlaps"},
		"hole":             {file(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}}`, 8), "unused bytes"},
		"trailing":         {file(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, 9), "tensors cover 4"},
		"same range":       {file(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, 4), "overlaps"},
	}
}

func TestHostileHeaders(t *testing.T) {
	for name, c := range hostileCases() {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(c.b)
			if err == nil {
				t.Fatal("parsed without error")
			}
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want ErrFormat mentioning %q", err, c.want)
			}
		})
	}
}

func TestWellFormedEdges(t *testing.T) {
	ok := map[string][]byte{
		"empty object":   file(`{}`, 0),
		"padded header":  file(`{}      `, 0),
		"metadata only":  file(`{"__metadata__":{}}`, 0),
		"empty tensors":  file(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"c":{"dtype":"U8","shape":[0],"data_offsets":[4,4]}}`, 4),
		"unknown fields": file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":true}}`, 1),
	}
	for name, b := range ok {
		if _, err := Parse(b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
