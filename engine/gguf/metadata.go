package gguf

import (
	"fmt"
	"math"
)

// ValueType is the type tag of a GGUF metadata value.
type ValueType uint32

// GGUF metadata value types, numbered as in the GGUF specification.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("valuetype(%d)", uint32(t))
}

// minSize is the fewest bytes one value of t can occupy (0 for unknown
// types); it bounds array lengths before anything is allocated.
func (t ValueType) minSize() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64, TypeString:
		return 8
	case TypeArray:
		return 12
	}
	return 0
}

// Array is a metadata array. Values holds a typed slice matching Elem:
// []uint8, []int8, []uint16, []int16, []uint32, []int32, []float32, []bool,
// []string, []uint64, []int64, []float64, or []Array for nested arrays.
type Array struct {
	Elem   ValueType
	Values any
}

// Len is the number of elements.
func (a Array) Len() int {
	switch v := a.Values.(type) {
	case []uint8:
		return len(v)
	case []int8:
		return len(v)
	case []uint16:
		return len(v)
	case []int16:
		return len(v)
	case []uint32:
		return len(v)
	case []int32:
		return len(v)
	case []float32:
		return len(v)
	case []bool:
		return len(v)
	case []string:
		return len(v)
	case []uint64:
		return len(v)
	case []int64:
		return len(v)
	case []float64:
		return len(v)
	case []Array:
		return len(v)
	}
	return 0
}

// KV is one metadata entry. Value is uint8, int8, uint16, int16, uint32,
// int32, float32, bool, string, uint64, int64, float64 or Array, per Type.
type KV struct {
	Key   string
	Type  ValueType
	Value any
}

// Keys lists the metadata keys in file order.
func (f *File) Keys() []string {
	keys := make([]string, len(f.kvs))
	for i, kv := range f.kvs {
		keys[i] = kv.Key
	}
	return keys
}

// KVs returns all metadata entries in file order; the slice is shared.
func (f *File) KVs() []KV { return f.kvs }

// Value returns the entry for key.
func (f *File) Value(key string) (KV, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return KV{}, false
	}
	return f.kvs[i], true
}

// String returns a string value.
func (f *File) String(key string) (string, bool) {
	kv, _ := f.Value(key)
	s, ok := kv.Value.(string)
	return s, ok
}

// Bool returns a bool value.
func (f *File) Bool(key string) (bool, bool) {
	kv, _ := f.Value(key)
	b, ok := kv.Value.(bool)
	return b, ok
}

// Uint returns an integer value of any integer type that is not negative.
func (f *File) Uint(key string) (uint64, bool) {
	kv, _ := f.Value(key)
	return asUint(kv.Value)
}

// Int returns an integer value of any integer type that fits in an int64.
func (f *File) Int(key string) (int64, bool) {
	kv, _ := f.Value(key)
	return asInt(kv.Value)
}

// Float returns a float32 or float64 value widened to float64.
func (f *File) Float(key string) (float64, bool) {
	kv, _ := f.Value(key)
	switch v := kv.Value.(type) {
	case float32:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

// Array returns an array value.
func (f *File) Array(key string) (Array, bool) {
	kv, _ := f.Value(key)
	a, ok := kv.Value.(Array)
	return a, ok
}

// Strings returns a string array; the slice is shared.
func (f *File) Strings(key string) ([]string, bool) {
	a, _ := f.Array(key)
	s, ok := a.Values.([]string)
	return s, ok
}

// Float32s returns a float32 array; the slice is shared.
func (f *File) Float32s(key string) ([]float32, bool) {
	a, _ := f.Array(key)
	s, ok := a.Values.([]float32)
	return s, ok
}

// Int32s returns an integer array as int32s: an int32 array is shared, any
// other integer array is converted, and fails if a value does not fit.
func (f *File) Int32s(key string) ([]int32, bool) {
	a, _ := f.Array(key)
	if s, ok := a.Values.([]int32); ok {
		return s, true
	}
	n := a.Len()
	if n == 0 && a.Values == nil {
		return nil, false
	}
	out := make([]int32, 0, n)
	ok := eachInt(a.Values, func(v int64) bool {
		if v < math.MinInt32 || v > math.MaxInt32 {
			return false
		}
		out = append(out, int32(v))
		return true
	})
	return out, ok
}

func asUint(v any) (uint64, bool) {
	if u, ok := v.(uint64); ok {
		return u, true
	}
	i, ok := asInt(v)
	if !ok || i < 0 {
		return 0, false
	}
	return uint64(i), true
}

func asInt(v any) (int64, bool) {
	switch v := v.(type) {
	case uint8:
		return int64(v), true
	case int8:
		return int64(v), true
	case uint16:
		return int64(v), true
	case int16:
		return int64(v), true
	case uint32:
		return int64(v), true
	case int32:
		return int64(v), true
	case int64:
		return v, true
	case uint64:
		if v > math.MaxInt64 {
			return 0, false
		}
		return int64(v), true
	}
	return 0, false
}

// eachInt calls fn on each element of an integer slice; it reports false
// for a non-integer slice, a uint64 beyond int64, or when fn does.
func eachInt(values any, fn func(int64) bool) bool {
	switch s := values.(type) {
	case []uint8:
		return eachOf(s, fn)
	case []int8:
		return eachOf(s, fn)
	case []uint16:
		return eachOf(s, fn)
	case []int16:
		return eachOf(s, fn)
	case []uint32:
		return eachOf(s, fn)
	case []int64:
		return eachOf(s, fn)
	case []uint64:
		for _, v := range s {
			if v > math.MaxInt64 || !fn(int64(v)) {
				return false
			}
		}
		return true
	}
	return false
}

func eachOf[T uint8 | int8 | uint16 | int16 | uint32 | int64](s []T, fn func(int64) bool) bool {
	for _, v := range s {
		if !fn(int64(v)) {
			return false
		}
	}
	return true
}
