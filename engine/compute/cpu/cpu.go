// Package cpu is the CPU compute backend: float32 activations in host memory, the
// SIMD kernels of engine/kernel and one worker pool across all cores.
package cpu

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/float16"
	"github.com/graft-ai/graft/engine/gguf"
	"github.com/graft-ai/graft/engine/kernel"
	"github.com/graft-ai/graft/engine/mapped"
)

// Buffer is host float32 memory.
type Buffer []float32

func (b Buffer) Len() int { return len(b) }

// Matrix is a row-major float32 weight matrix.
type Matrix struct {
	data       []float32
	bf16       []uint16 // set instead of data for bfloat16 weights
	f16        []uint16 // or for IEEE half weights
	q          []byte   // or for GGUF block-quantized weights of type qt
	qt         gguf.Type
	packed     bool // q is packed eight rows to a block (kernel.Pack)
	rows, cols int
	panels     []float32 // kernel.LoRAPanels' layout, made on first use as a LoRA B
	panelsBF16 []uint16  // or that of bfloat16 weights
}

func (m *Matrix) Rows() int { return m.rows }
func (m *Matrix) Cols() int { return m.cols }

// Data exposes the weights, for tests and for LoRA merging checks.
func (m *Matrix) Data() []float32 { return m.data }

// Backend implements compute.Backend on the CPU.
type Backend struct {
	pool *kernel.Pool
	jobs jobs
	// int8Act computes block-quantized weights with activations quantized
	// to 8 bits per row (kernel.MatMulQ8) instead of float32 (MatMulQ).
	int8Act bool
	// packed is set once Pack rearranged a matrix: its kernels take int8
	// activations only.
	packed atomic.Bool
	// noRepack keeps quantized weights as stored: Pack declines.
	noRepack bool
	projs    [3]kernel.QProj // MatMulMany's, under jobs.mu
	rope     ropeTable
	// weights holds the matrices the backend writes itself (packed, or
	// quantized on load) in 2 MiB pages, as a file's weights are mapped.
	weights mapped.Arena
}

// QuantActivationModes are the values SetQuantActivations takes.
var QuantActivationModes = []string{"int8", "float"}

// SetQuantActivations chooses how matmuls with block-quantized weights
// treat the activations: "int8" (or "") quantizes each row to 8-bit blocks
// and uses integer dots, as llama.cpp does: faster, within the activation
// rounding of the float result; "float" keeps them float32, each output
// exactly MatMul on the dequantized weights. New backends start in
// "float"; the graft commands default to "int8". Call it before any
// MatMul runs.
func (b *Backend) SetQuantActivations(mode string) error {
	switch mode {
	case "", "int8":
		b.int8Act = true
	case "float":
		if b.packed.Load() {
			return fmt.Errorf("quantized activations %q: set before the model loads (packed weights compute with int8 activations only)", mode)
		}
		b.int8Act = false
	default:
		return fmt.Errorf("quantized activations %q: want int8 or float", mode)
	}
	return nil
}

var _ compute.Backend = (*Backend)(nil)

// New returns a backend using threads workers (0 means all cores).
func New(threads int) *Backend {
	b := &Backend{pool: kernel.NewPool(threads)}
	b.jobs.bind()
	return b
}

// Close stops the worker pool and the weights arena's filling: its
// memory goes once the matrices in it are unreachable.
func (b *Backend) Close() {
	b.pool.Close()
	b.weights.Close()
}

// Pool exposes the worker pool for other CPU-side work (sampling many sequences).
func (b *Backend) Pool() *kernel.Pool { return b.pool }

func (b *Backend) Alloc(n int) compute.Buffer { return make(Buffer, n) }

func (b *Backend) Matrix(data []float32, rows, cols int) compute.Matrix {
	if len(data) != rows*cols {
		panic(fmt.Sprintf("cpu: matrix data has %d floats, want %d x %d", len(data), rows, cols))
	}
	return &Matrix{data: data, rows: rows, cols: cols}
}

// MatrixBF16 keeps bfloat16 weights as they are stored: half the memory and
// half the bytes a decode step reads; MatMul widens them exactly in registers.
func (b *Backend) MatrixBF16(data []uint16, rows, cols int) compute.Matrix {
	if len(data) != rows*cols {
		panic(fmt.Sprintf("cpu: bf16 matrix data has %d values, want %d x %d", len(data), rows, cols))
	}
	return &Matrix{bf16: data, rows: rows, cols: cols}
}

// MatrixStored keeps a weight matrix in its file format when the kernels
// compute with that format directly: F16, BF16 and the GGUF block types of
// kernel.MatMulQ. ok is false for other types. data may alias a read-only
// memory map.
func (b *Backend) MatrixStored(t gguf.Type, data []byte, rows, cols int) (m compute.Matrix, ok bool) {
	switch {
	case t == gguf.TypeF16 || t == gguf.TypeBF16:
		if len(data) != 2*rows*cols {
			panic(fmt.Sprintf("cpu: %s matrix has %d bytes, want %d x %d values", t, len(data), rows, cols))
		}
		h := mapped.Uint16s(data, rows*cols)
		if t == gguf.TypeF16 {
			return &Matrix{f16: h, rows: rows, cols: cols}, true
		}
		return &Matrix{bf16: h, rows: rows, cols: cols}, true
	case blocksKept(t, cols):
		if len(data) != rows*cols/t.BlockSize()*t.BlockBytes() {
			panic(fmt.Sprintf("cpu: %s matrix has %d bytes, want %d x %d values", t, len(data), rows, cols))
		}
		return &Matrix{q: data, qt: t, rows: rows, cols: cols}, true
	}
	return nil, false
}

// MatrixQuantized is MatrixStored for weights encoded on load (a model
// quantized as it loads): its storage is outside the Go heap, in the
// backend's arena of 2 MiB pages, and fill writes its rows*cols values of
// type t there. ok is false, and fill is not called, for types
// MatrixStored refuses.
func (b *Backend) MatrixQuantized(t gguf.Type, rows, cols int, fill func(dst []byte)) (m compute.Matrix, ok bool) {
	if !blocksKept(t, cols) {
		return nil, false
	}
	mt := &Matrix{qt: t, rows: rows, cols: cols}
	mt.q = mapped.Alloc(&b.weights, mt, rows*cols/t.BlockSize()*t.BlockBytes())
	fill(mt.q)
	return mt, true
}

// SetRepack turns Pack on (the default) or off, before a model loads: off,
// quantized weights compute as the file stores them (llama.cpp's
// --no-repack), for an A/B of the layouts or to keep the file's bits.
func (b *Backend) SetRepack(on bool) { b.noRepack = !on }

// Pack rearranges a stored 32-value (Q4_0, Q4_1, Q5_0, Q5_1) or K-quant
// (Q2_K, Q3_K, Q4_K, Q6_K) matrix of whole 8-row groups, in int8
// activation mode, into the packed layout of kernel.MatMulPacked, in the
// backend's arena of 2 MiB pages outside the Go heap (mapped.Arena says
// why): 1.5-2.2 times the decode kernels' speed of the rows as stored on
// Q4_0 and Q4_K, 2.1-3.0 on Q4_1, Q5_0 and Q5_1, 1.4-1.5 on Q3_K and
// Q6_K, 1.2 on Q2_K, against the stored rows' VNNI twins where the CPU has
// them (Q4_0 with the same bits, the others a rounding apart: the
// dot*Packed references in package kernel).
// ok is false, and m is returned, where that does not apply (other types,
// no kernels, float activations, SetRepack(false)). A packed matrix still
// serves Embed, but the caller should keep a table that mostly serves
// lookups (an untied token embedding) as stored: packing reads in and
// copies all of it.
func (b *Backend) Pack(m compute.Matrix) (compute.Matrix, bool) {
	src := mat(m)
	if src.q == nil || src.packed || !b.int8Act || b.noRepack || !kernel.CanPack(src.qt, src.rows, src.cols) {
		return m, false
	}
	p := &Matrix{qt: src.qt, packed: true, rows: src.rows, cols: src.cols}
	p.q = mapped.Alloc(&b.weights, p, kernel.PackedBytes(src.qt, src.rows, src.cols))
	kernel.Pack(src.qt, p.q, src.q, src.rows, src.cols)
	b.packed.Store(true)
	return p, true
}

// blocksKept reports whether rows of cols values of block type t are kept
// as blocks: the kernels compute with t and each row is whole blocks.
func blocksKept(t gguf.Type, cols int) bool {
	return slices.Contains(kernel.QuantTypes, t) && cols%t.BlockSize() == 0
}

func buf(b compute.Buffer) []float32 { return b.(Buffer) }
func mat(m compute.Matrix) *Matrix   { return m.(*Matrix) }

// unpackedRows holds *[]byte scratch for Embed's rows of packed tables,
// so that a decode step with a tied, packed head allocates nothing.
var unpackedRows = sync.Pool{New: func() any { return new([]byte) }}

func (b *Backend) Embed(out compute.Buffer, table compute.Matrix, tokens []int32) {
	o, t := buf(out), mat(table)
	var unpacked *[]byte // a packed table's row as stored
	if t.packed {        // a tied head: an untied table stays as stored
		unpacked = unpackedRows.Get().(*[]byte)
		defer unpackedRows.Put(unpacked)
	}
	for i, id := range tokens {
		row := o[i*t.cols : (i+1)*t.cols]
		stored := t.q
		if t.packed {
			rb := t.cols / t.qt.BlockSize() * t.qt.BlockBytes()
			*unpacked = slices.Grow((*unpacked)[:0], rb)[:rb]
			kernel.UnpackRow(t.qt, *unpacked, t.q, int(id), t.cols)
			stored, id = *unpacked, 0
		}
		switch {
		case t.bf16 != nil:
			float16.BF16ToF32(row, t.bf16[int(id)*t.cols:(int(id)+1)*t.cols])
			continue
		case t.f16 != nil:
			float16.F16ToF32(row, t.f16[int(id)*t.cols:(int(id)+1)*t.cols])
			continue
		case stored != nil:
			rb := t.cols / t.qt.BlockSize() * t.qt.BlockBytes()
			if err := gguf.Dequantize(t.qt, row, stored[int(id)*rb:(int(id)+1)*rb]); err != nil {
				panic(err) // shapes were checked when the matrix was made
			}
			continue
		}
		copy(row, t.data[int(id)*t.cols:(int(id)+1)*t.cols])
	}
}

func (b *Backend) MatMul(out, x compute.Buffer, w compute.Matrix, rows int) {
	m := mat(w)
	switch {
	case m.packed:
		kernel.MatMulPacked(b.pool, buf(out)[:rows*m.rows], buf(x)[:rows*m.cols], m.q, m.qt, rows, m.cols, m.rows)
		return
	case m.q != nil && b.int8Act:
		kernel.MatMulQ8(b.pool, buf(out)[:rows*m.rows], buf(x)[:rows*m.cols], m.q, m.qt, rows, m.cols, m.rows)
		return
	case m.q != nil:
		kernel.MatMulQ(b.pool, buf(out)[:rows*m.rows], buf(x)[:rows*m.cols], m.q, m.qt, rows, m.cols, m.rows)
		return
	case m.f16 != nil:
		kernel.MatMulF16(b.pool, buf(out)[:rows*m.rows], buf(x)[:rows*m.cols], m.f16, rows, m.cols, m.rows)
		return
	case m.bf16 != nil:
		kernel.MatMulBF16(b.pool, buf(out)[:rows*m.rows], buf(x)[:rows*m.cols], m.bf16, rows, m.cols, m.rows)
		return
	}
	kernel.MatMul(b.pool, buf(out)[:rows*m.rows], buf(x)[:rows*m.cols], m.data, rows, m.cols, m.rows)
}

// MatMulMany runs several MatMuls of one x in one pass over the pool, with
// the same bits, when all weights are block-quantized and meet int8
// activations (kernel.MatMulQ8Many); else it computes nothing and reports
// false.
func (b *Backend) MatMulMany(outs []compute.Buffer, x compute.Buffer, ws []compute.Matrix, rows int) bool {
	if !b.int8Act || len(ws) > len(b.projs) || len(ws) == 0 {
		return false
	}
	b.jobs.mu.Lock()
	defer b.jobs.mu.Unlock()
	projs := b.projs[:len(ws)]
	defer clear(projs)
	cols := mat(ws[0]).cols
	for i, w := range ws {
		m := mat(w)
		if m.q == nil || m.cols != cols {
			return false
		}
		projs[i] = kernel.QProj{Out: buf(outs[i])[:rows*m.rows], W: m.q, T: m.qt, OutDim: m.rows, Packed: m.packed}
	}
	return kernel.MatMulQ8Many(b.pool, buf(x)[:rows*cols], rows, cols, projs)
}

func (b *Backend) AddBias(x compute.Buffer, bias compute.Matrix, rows int) {
	xs, bs := buf(x), mat(bias).data
	n := len(bs)
	for r := 0; r < rows; r++ {
		row := xs[r*n : (r+1)*n]
		kernel.Add(row, row, bs)
	}
}

func (b *Backend) RMSNorm(out, x compute.Buffer, weight compute.Matrix, rows int, eps float32) {
	b.jobs.mu.Lock()
	defer b.jobs.mu.Unlock()
	j := &b.jobs.rows
	j.out, j.x, j.w, j.eps = buf(out), buf(x), mat(weight).data, eps
	j.n = len(j.w)
	b.pool.Run(rows, j.run)
	j.out, j.x, j.w = nil, nil, nil
}

func (b *Backend) RoPE(x compute.Buffer, rows, heads, headDim int, positions []int32, r *compute.Rope) {
	xs := buf(x)
	half := headDim / 2
	b.rope.mu.Lock()
	defer b.rope.mu.Unlock()
	cos, sin := b.rope.table(positions[:rows], half, r)
	for t := 0; t < rows; t++ {
		cs, sn := cos[t*half:(t+1)*half], sin[t*half:(t+1)*half]
		for h := 0; h < heads; h++ {
			base := (t*heads + h) * headDim
			lo, hi := xs[base:base+half], xs[base+half:base+headDim]
			for i := range lo {
				x0, x1 := lo[i], hi[i]
				lo[i] = x0*cs[i] - x1*sn[i]
				hi[i] = x1*cs[i] + x0*sn[i]
			}
		}
	}
}

// ropeTable keeps the cos and sin of the last positions RoPE saw: a step
// rotates q and k of every layer at the same positions, and a math.Sincos
// per position and frequency in each of those calls cost 1.2% of a
// 32-stream decode step.
type ropeTable struct {
	mu       sync.Mutex
	rope     *compute.Rope
	pos      []int32
	cos, sin []float32
	head     []float32 // Deinterleave's copy of one head
}

// table returns cos and sin of positions × r's frequencies, [len(positions)][half],
// computing them only when the positions or the rope changed.
func (c *ropeTable) table(positions []int32, half int, r *compute.Rope) (cos, sin []float32) {
	n := len(positions) * half
	if c.rope == r && len(c.cos) == n && slices.Equal(c.pos, positions) {
		return c.cos, c.sin
	}
	c.rope, c.pos = r, append(c.pos[:0], positions...)
	c.cos, c.sin = slices.Grow(c.cos[:0], n)[:n], slices.Grow(c.sin[:0], n)[:n]
	for t, p := range positions {
		pos := float64(p)
		for i := 0; i < half; i++ {
			// float64 angles: cos/sin of large pos*freq lose accuracy in float32.
			s, co := math.Sincos(pos * r.InvFreq[i])
			c.cos[t*half+i], c.sin[t*half+i] = float32(co)*r.MScale, float32(s)*r.MScale
		}
	}
	return c.cos, c.sin
}

// Deinterleave reorders each head of each row from interleaved pairs (2i,
// 2i+1) to rotate_half (i, i+headDim/2): the loader keeps GGUF's q and k
// weights as the file holds them and their outputs come through here.
func (b *Backend) Deinterleave(x compute.Buffer, rows, heads, headDim int) {
	xs := buf(x)
	b.rope.mu.Lock()
	defer b.rope.mu.Unlock()
	b.rope.head = slices.Grow(b.rope.head[:0], headDim)[:headDim]
	tmp := b.rope.head
	for h := range rows * heads {
		head := xs[h*headDim : (h+1)*headDim]
		copy(tmp, head)
		kernel.Unpair(head, tmp)
	}
}

func (b *Backend) SiLUMul(out, gate, up compute.Buffer, n int) {
	b.jobs.mu.Lock()
	defer b.jobs.mu.Unlock()
	j := &b.jobs.silu
	j.out, j.gate, j.up = buf(out)[:n], buf(gate)[:n], buf(up)[:n]
	b.pool.Run((n+siluChunk-1)/siluChunk, j.run)
	j.out, j.gate, j.up = nil, nil, nil
}

func (b *Backend) Add(out, a, c compute.Buffer, n int) {
	kernel.Add(buf(out)[:n], buf(a)[:n], buf(c)[:n])
}

func (b *Backend) Gather(out, x compute.Buffer, idx []int32, width int) {
	o, xs := buf(out), buf(x)
	for i, r := range idx {
		copy(o[i*width:(i+1)*width], xs[int(r)*width:(int(r)+1)*width])
	}
}

func (b *Backend) Read(dst []float32, src compute.Buffer) { copy(dst, buf(src)) }

// Host is a buffer's own memory: the CPU's buffers are host memory.
func (b *Backend) Host(src compute.Buffer) []float32 { return buf(src) }
func (b *Backend) Write(dst compute.Buffer, src []float32) {
	copy(buf(dst), src)
}

// Packed reports whether the matrix is packed by Backend.Pack.
func (m *Matrix) Packed() bool { return m.packed }

// Narrow reports whether the matrix keeps bfloat16 weights.
func (m *Matrix) Narrow() bool { return m.bf16 != nil }

// Stored names the format the weights are kept in.
func (m *Matrix) Stored() gguf.Type {
	switch {
	case m.q != nil:
		return m.qt
	case m.f16 != nil:
		return gguf.TypeF16
	case m.bf16 != nil:
		return gguf.TypeBF16
	}
	return gguf.TypeF32
}
