package peft

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
)

// MaxHeaderSize caps an adapter's safetensors JSON header. The format
// allows 100 MB, but parsing that costs the pod most of a GiB and half a
// minute, and a client may name any hf:// repository; 8 MiB describes some
// 50,000 tensors, over ten times the LoRA of a 200-layer model on every module.
const MaxHeaderSize = 8 << 20

// Tensor is one entry of the weights file's header. Begin and End are byte
// offsets into the data area, which starts after the header.
type Tensor struct {
	Name       string
	DType      string
	Shape      []int
	Begin, End int64
}

// weightDTypes are the element types LoRA weights may be stored in, with
// their sizes: what the engine converts to float32.
var weightDTypes = map[string]uint64{"F32": 4, "F16": 2, "BF16": 2}

// CheckWeightsFile checks dir's adapter_model.safetensors with CheckWeights.
// A missing file gives an error for which errors.Is(err, fs.ErrNotExist) holds.
func CheckWeightsFile(dir string) ([]Tensor, error) {
	f, err := os.Open(filepath.Join(dir, WeightsFile))
	if err != nil {
		return nil, fileError(WeightsFile, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileError(WeightsFile, err)
	}
	return CheckWeights(f, fi.Size())
}

// CheckWeights reads only the header of a safetensors file of size bytes and
// checks that it parses, that every tensor has a LoRA dtype and data_offsets
// that match its shape, and that the data it declares is all in the file. It
// does not read the weights themselves.
func CheckWeights(r io.ReaderAt, size int64) ([]Tensor, error) {
	header, err := readHeader(r, size)
	if err != nil {
		return nil, err
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(header, &entries); err != nil || entries == nil {
		return nil, fmt.Errorf("%s has an invalid header: not a JSON object", WeightsFile)
	}
	delete(entries, "__metadata__")
	if len(entries) == 0 {
		return nil, fmt.Errorf("%s holds no tensors", WeightsFile)
	}
	ts := make([]Tensor, 0, len(entries))
	for _, name := range sortedKeys(entries) {
		t, err := parseTensor(name, entries[name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", WeightsFile, err)
		}
		ts = append(ts, t)
	}
	return ts, checkExtent(ts, size, size-8-int64(len(header)))
}

func readHeader(r io.ReaderAt, size int64) ([]byte, error) {
	var lenBuf [8]byte
	if size < 8 {
		return nil, fmt.Errorf("%s is truncated: %d bytes, too short to hold the header length", WeightsFile, size)
	}
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("%s cannot be read: %v", WeightsFile, err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("%s has a header length of %d bytes, over the %d-byte limit for a LoRA adapter", WeightsFile, n, MaxHeaderSize)
	}
	if n > uint64(size-8) {
		return nil, fmt.Errorf("%s is truncated: header says at least %d bytes, file has %d", WeightsFile, 8+n, size)
	}
	header := make([]byte, n)
	if _, err := r.ReadAt(header, 8); err != nil {
		return nil, fmt.Errorf("%s cannot be read: %v", WeightsFile, err)
	}
	return header, nil
}

func parseTensor(name string, raw json.RawMessage) (Tensor, error) {
	var e struct {
		DType       string   `json:"dtype"`
		Shape       []uint64 `json:"shape"`
		DataOffsets []uint64 `json:"data_offsets"`
	}
	if err := json.Unmarshal(raw, &e); err != nil || e.Shape == nil || len(e.DataOffsets) != 2 {
		return Tensor{}, fmt.Errorf("tensor %q needs a dtype, a shape and two data_offsets", name)
	}
	size, ok := weightDTypes[e.DType]
	if !ok {
		return Tensor{}, fmt.Errorf("tensor %q has dtype %q; LoRA weights must be F32, F16 or BF16", name, e.DType)
	}
	t := Tensor{Name: name, DType: e.DType, Shape: make([]int, len(e.Shape))}
	bytes := size
	for i, d := range e.Shape {
		hi, lo := bits.Mul64(bytes, d)
		if hi != 0 || lo > math.MaxInt64 || d > math.MaxInt32 {
			return Tensor{}, fmt.Errorf("tensor %q has shape %v, too large", name, e.Shape)
		}
		bytes, t.Shape[i] = lo, int(d)
	}
	begin, end := e.DataOffsets[0], e.DataOffsets[1]
	if begin > end || end > math.MaxInt64 {
		return Tensor{}, fmt.Errorf("tensor %q has data_offsets [%d, %d], which end before they start", name, begin, end)
	}
	if end-begin != bytes {
		return Tensor{}, fmt.Errorf("tensor %q has data_offsets [%d, %d] (%d bytes), but %s %v needs %d bytes", name, begin, end, end-begin, e.DType, e.Shape, bytes)
	}
	t.Begin, t.End = int64(begin), int64(end)
	return t, nil
}

// checkExtent tells a file cut short (its tensors tile a data area longer than
// what is there) from a header whose offsets point outside the file.
func checkExtent(ts []Tensor, size, data int64) error {
	var end, sum int64
	for _, t := range ts {
		end = max(end, t.End)
		sum = addCapped(sum, t.End-t.Begin)
	}
	if end <= data {
		return nil
	}
	if sum == end {
		return fmt.Errorf("%s is truncated: header says %d bytes, file has %d", WeightsFile, addCapped(size-data, end), size)
	}
	i := slices.IndexFunc(ts, func(t Tensor) bool { return t.End > data })
	return fmt.Errorf("%s: tensor %q has data_offsets [%d, %d], past the end of the file's %d bytes of tensor data", WeightsFile, ts[i].Name, ts[i].Begin, ts[i].End, data)
}

// addCapped adds non-negative sizes, stopping at the largest int64 rather than
// wrapping, since the header's numbers are untrusted.
func addCapped(a, b int64) int64 {
	if b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}
