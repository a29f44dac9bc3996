package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"
)

// raw builds GGUF bytes field by field, so tests can write what the Writer
// never would.
type raw struct{ bytes.Buffer }

func (r *raw) u32(v uint32) *raw { binary.Write(r, binary.LittleEndian, v); return r }
func (r *raw) u64(v uint64) *raw { binary.Write(r, binary.LittleEndian, v); return r }
func (r *raw) str(s string) *raw { r.u64(uint64(len(s))); r.WriteString(s); return r }
func (r *raw) pad(n int) *raw    { r.Write(make([]byte, n)); return r }

func header(tensors, kvs uint64) *raw {
	r := &raw{}
	return r.u32(magic).u32(3).u64(tensors).u64(kvs)
}

// tensor appends one tensor info with the given dims, type and offset.
func (r *raw) tensor(name string, typ Type, off uint64, dims ...uint64) *raw {
	r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r.u64(d)
	}
	return r.u32(uint32(typ)).u64(off)
}

// data pads to 32 and appends n zero bytes of tensor data.
func (r *raw) data(n int) *raw {
	return r.pad((32-r.Len()%32)%32 + n)
}

func hostileCases() map[string]struct {
	b    []byte
	want string
} {
	type c = struct {
		b    []byte
		want string
	}
	big := uint64(math.MaxUint64)
	return map[string]c{
		"empty":            {nil, "magic needs 4 bytes"},
		"bad magic":        {(&raw{}).u32(0x12345678).pad(20).Bytes(), "bad magic"},
		"version 1":        {(&raw{}).u32(magic).u32(1).pad(16).Bytes(), "unsupported version 1"},
		"big-endian":       {(&raw{}).u32(magic).u32(3 << 24).pad(16).Bytes(), "big-endian"},
		"huge tensors":     {header(big, 0).Bytes(), "tensor count is 18446744073709551615"},
		"huge kvs":         {header(0, 1<<40).Bytes(), "metadata count"},
		"huge key":         {header(0, 1).u64(big).pad(8).Bytes(), "metadata key 0 length"},
		"huge string":      {header(0, 1).str("k").u32(uint32(TypeString)).u64(1 << 50).Bytes(), "string value length"},
		"huge array":       {header(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeUint64)).u64(1 << 61).pad(8).Bytes(), "array length"},
		"huge str array":   {header(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(1 << 40).pad(64).Bytes(), "array length"},
		"bad value type":   {header(0, 1).str("k").u32(99).pad(8).Bytes(), "unknown metadata value type 99"},
		"bad elem type":    {header(0, 1).str("k").u32(uint32(TypeArray)).u32(77).u64(1).pad(8).Bytes(), "unknown array element type 77"},
		"bool 2":           {append(header(0, 1).str("k").u32(uint32(TypeBool)).Bytes(), 2), "bool value 2"},
		"duplicate key":    {header(0, 2).str("k").u32(uint32(TypeUint8)).pad(1).str("k").u32(uint32(TypeUint8)).pad(1).Bytes(), "duplicate metadata key"},
		"deep nesting":     {nested(20), "nested deeper"},
		"alignment 0":      {header(0, 1).str(keyAlignment).u32(uint32(TypeUint32)).u32(0).Bytes(), "general.alignment"},
		"alignment 3":      {header(0, 1).str(keyAlignment).u32(uint32(TypeUint32)).u32(3).Bytes(), "general.alignment"},
		"alignment string": {header(0, 1).str(keyAlignment).u32(uint32(TypeString)).str("32").Bytes(), "general.alignment"},
		"too many dims":    {header(1, 0).tensor("t", TypeF32, 0, 1, 1, 1, 1, 1).data(4).Bytes(), "5 dimensions"},
		"unknown type":     {header(1, 0).tensor("t", 4, 0, 1).data(4).Bytes(), "unknown type 4"},
		"dims overflow":    {header(1, 0).tensor("t", TypeF32, 0, 1<<32, 1<<32).data(4).Bytes(), "overflow"},
		"size overflow":    {header(1, 0).tensor("t", TypeF64, 0, 1<<61).data(4).Bytes(), "overflow"},
		"zero dim hides":   {header(1, 0).tensor("t", TypeF32, 0, 0, 1<<40, 1<<40).data(4).Bytes(), "overflow"},
		"q8 row":           {header(1, 0).tensor("t", TypeQ8_0, 0, 16).data(34).Bytes(), "not a multiple of the Q8_0 block size 32"},
		"past end":         {header(1, 0).tensor("t", TypeF32, 0, 16).data(60).Bytes(), "run past the data section"},
		"offset past end":  {header(1, 0).tensor("t", TypeF32, 1<<62, 1).data(4).Bytes(), "run past the data section"},
		"offset overflow":  {header(1, 0).tensor("t", TypeF32, math.MaxInt64-31, 16).data(4).Bytes(), "overflow"},
		"misaligned":       {header(1, 0).tensor("t", TypeF32, 4, 1).data(64).Bytes(), "not a multiple of the alignment"},
		"overlap":          {header(2, 0).tensor("a", TypeF32, 0, 16).tensor("b", TypeF32, 32, 16).data(128).Bytes(), "overlap"},
		"overlap hidden":   {header(3, 0).tensor("a", TypeF32, 0, 32).tensor("z", TypeF32, 32, 0).tensor("b", TypeF32, 64, 8).data(256).Bytes(), "overlap"},
		"duplicate tensor": {header(2, 0).tensor("a", TypeF32, 0, 8).tensor("a", TypeF32, 32, 8).data(64).Bytes(), "duplicate tensor name"},
		"truncated info":   {header(1, 0).str("t").u32(2).u64(4).Bytes(), "dimension of t"},
	}
}

func nested(depth int) []byte {
	r := header(0, 1).str("k").u32(uint32(TypeArray))
	for range depth {
		r.u32(uint32(TypeArray)).u64(1)
	}
	return r.u32(uint32(TypeUint8)).u64(0).Bytes()
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

// TestWellFormedEdges: what hostile-looking input is nevertheless valid.
func TestWellFormedEdges(t *testing.T) {
	ok := map[string][]byte{
		"no tensors, no data": header(0, 0).Bytes(),
		"empty tensor":        header(2, 0).tensor("a", TypeF32, 0, 0, 5).tensor("b", TypeF32, 0, 8).data(32).Bytes(),
		"nested at max depth": nested(maxDepth - 1),
		"v2":                  (&raw{}).u32(magic).u32(2).u64(0).u64(0).Bytes(),
		"alignment as uint64": header(0, 1).str(keyAlignment).u32(uint32(TypeUint64)).u64(64).Bytes(),
	}
	for name, b := range ok {
		if _, err := Parse(b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	f, err := Parse(ok["empty tensor"])
	if err != nil {
		t.Fatal(err)
	}
	if v, shape, err := f.Float32("a"); err != nil || len(v) != 0 || len(shape) != 2 {
		t.Errorf("empty tensor: %v %v %v", v, shape, err)
	}
}
