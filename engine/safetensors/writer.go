package safetensors

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"unicode/utf8"

	"github.com/graft-ai/graft/engine/float16"
)

// TensorData is one tensor to write. Either Data (converted to DType, which
// must then be F32, F16 or BF16) or Raw (already encoded, any dtype) is set.
type TensorData struct {
	Name  string
	DType DType
	Shape []int
	Data  []float32
	Raw   []byte
}

// Write writes a .safetensors file the way the reference implementation
// lays one out: tensors ordered by dtype (larger elements first, so each
// is aligned to its element size), then by name, the header listing them in that
// order after __metadata__, padded with spaces to a multiple of 8 bytes.
func Write(w io.Writer, tensors []TensorData, metadata map[string]string) error {
	encoded, err := encodeAll(tensors)
	if err != nil {
		return err
	}
	header, err := buildHeader(encoded, metadata)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
	bw.Write(n[:])
	bw.Write(header)
	for _, t := range encoded {
		bw.Write(t.Raw)
	}
	return bw.Flush()
}

// WriteFile writes a .safetensors file at path.
func WriteFile(path string, tensors []TensorData, metadata map[string]string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Write(f, tensors, metadata); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// encodeAll checks and encodes every tensor and sorts them into file order.
func encodeAll(tensors []TensorData) ([]TensorData, error) {
	out := make([]TensorData, len(tensors))
	seen := make(map[string]bool, len(tensors))
	for i, t := range tensors {
		if !utf8.ValidString(t.Name) {
			return nil, fmt.Errorf("safetensors: tensor name %q is not UTF-8", t.Name)
		}
		if seen[t.Name] || t.Name == metadataKey {
			return nil, fmt.Errorf("safetensors: duplicate or reserved tensor name %q", t.Name)
		}
		seen[t.Name] = true
		raw, err := encode(t)
		if err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
		}
		t.Raw, t.Data = raw, nil
		out[i] = t
	}
	slices.SortFunc(out, func(a, b TensorData) int {
		return cmp.Or(cmp.Compare(dtypeRank[b.DType], dtypeRank[a.DType]), cmp.Compare(a.Name, b.Name))
	})
	return out, nil
}

func encode(t TensorData) ([]byte, error) {
	size := t.DType.Size()
	if size == 0 {
		return nil, fmt.Errorf("unsupported dtype %q", t.DType)
	}
	n := 1
	for _, d := range t.Shape {
		if d < 0 {
			return nil, fmt.Errorf("negative dimension in %v", t.Shape)
		}
		n *= d
	}
	if t.Data == nil {
		if len(t.Raw) != n*size {
			return nil, fmt.Errorf("%s %v takes %d bytes, Raw has %d", t.DType, t.Shape, n*size, len(t.Raw))
		}
		return t.Raw, nil
	}
	if len(t.Data) != n {
		return nil, fmt.Errorf("shape %v needs %d values, Data has %d", t.Shape, n, len(t.Data))
	}
	return encodeFloats(t.DType, t.Data)
}

func encodeFloats(dt DType, data []float32) ([]byte, error) {
	raw := make([]byte, len(data)*dt.Size())
	switch dt {
	case F32:
		for i, v := range data {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
	case F16:
		for i, v := range data {
			binary.LittleEndian.PutUint16(raw[2*i:], float16.Float32ToF16(v))
		}
	case BF16:
		for i, v := range data {
			binary.LittleEndian.PutUint16(raw[2*i:], float16.Float32ToBF16(v))
		}
	default:
		return nil, fmt.Errorf("cannot encode float32 as %s", dt)
	}
	return raw, nil
}

// buildHeader writes the JSON header by hand so that entries keep file
// order (encoding/json would sort map keys).
func buildHeader(tensors []TensorData, metadata map[string]string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("safetensors: metadata %q is not UTF-8", k)
		}
	}
	if len(metadata) > 0 {
		b.WriteString(`"__metadata__":`)
		if err := writeJSON(&b, metadata); err != nil {
			return nil, err
		}
	}
	off := 0
	for i, t := range tensors {
		if i > 0 || len(metadata) > 0 {
			b.WriteByte(',')
		}
		if err := writeJSON(&b, t.Name); err != nil {
			return nil, err
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		entry := struct {
			DType       DType  `json:"dtype"`
			Shape       []int  `json:"shape"`
			DataOffsets [2]int `json:"data_offsets"`
		}{t.DType, shape, [2]int{off, off + len(t.Raw)}}
		b.WriteByte(':')
		if err := writeJSON(&b, entry); err != nil {
			return nil, err
		}
		off += len(t.Raw)
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return b.Bytes(), nil
}

// writeJSON appends v without HTML escaping or a trailing newline, as
// serde_json would write it.
func writeJSON(b *bytes.Buffer, v any) error {
	var tmp bytes.Buffer
	enc := json.NewEncoder(&tmp)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Write(bytes.TrimSuffix(tmp.Bytes(), []byte("\n")))
	return nil
}
