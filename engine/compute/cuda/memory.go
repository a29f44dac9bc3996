package cuda

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/float16"
)

// devBuf is one pool block. Its cleanup returns the block to the pool when the
// Go value becomes unreachable (compute.Backend has no Free), and Free returns
// it at once.
type devBuf struct {
	ptr     uintptr
	bytes   int
	cleanup runtime.Cleanup
	freed   bool
}

func (b *Backend) newDevBuf(bytes int) *devBuf {
	ptr, err := b.pool.get(uint64(max(bytes, 1)))
	b.must(err)
	d := &devBuf{ptr: ptr, bytes: bytes}
	p := b.pool
	d.cleanup = runtime.AddCleanup(d, func(ptr uintptr) { p.put(ptr) }, ptr)
	return d
}

func (d *devBuf) free(p *pool) {
	if d.freed {
		return
	}
	d.freed = true
	d.cleanup.Stop()
	p.put(d.ptr)
}

// Buffer is float32 device memory.
type Buffer struct {
	*devBuf
	n int
}

func (b *Buffer) Len() int { return b.n }

// Matrix is a row-major weight matrix on the device.
type Matrix struct {
	*devBuf
	rows, cols int
	dtype      DType
}

func (m *Matrix) Rows() int { return m.rows }
func (m *Matrix) Cols() int { return m.cols }

// KVCache is, per layer, keys and values as [slot][kvHead][headDim] of KV type.
type KVCache struct {
	k, v      []*devBuf
	blocks    int
	blockSize int
	width     int
	dtype     DType
}

func (c *KVCache) NumBlocks() int { return c.blocks }
func (c *KVCache) BlockSize() int { return c.blockSize }

func dbuf(x compute.Buffer) *Buffer { return x.(*Buffer) }
func dmat(x compute.Matrix) *Matrix { return x.(*Matrix) }

func (b *Backend) Alloc(n int) compute.Buffer {
	b.enter()
	defer b.leave()
	return &Buffer{devBuf: b.newDevBuf(4 * n), n: n}
}

// Matrix converts data to the backend's weight type and uploads it.
func (b *Backend) Matrix(data []float32, rows, cols int) compute.Matrix {
	if len(data) != rows*cols {
		panic(fmt.Sprintf("cuda: matrix data has %d floats, want %d x %d", len(data), rows, cols))
	}
	host := encode(data, b.opts.Weights)
	b.enter()
	defer b.leave()
	m := &Matrix{devBuf: b.newDevBuf(len(host)), rows: rows, cols: cols, dtype: b.opts.Weights}
	b.upload(m.ptr, host)
	return m
}

// encode converts float32 values to a device type's bytes (round to nearest even).
func encode(data []float32, t DType) []byte {
	switch t {
	case F32:
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(data))), 4*len(data))
	case F16:
		out := make([]uint16, len(data))
		for i, v := range data {
			out[i] = float16.Float32ToF16(v)
		}
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(out))), 2*len(out))
	}
	out := make([]uint16, len(data))
	for i, v := range data {
		out[i] = float16.Float32ToBF16(v)
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(out))), 2*len(out))
}

// Free returns a Buffer's, Matrix's or KVCache's device memory to the pool now
// rather than when the collector finds it unreachable (adapters swapped out).
func (b *Backend) Free(x any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch v := x.(type) {
	case *Buffer:
		v.free(b.pool)
	case *Matrix:
		v.free(b.pool)
	case *KVCache:
		for i := range v.k {
			v.k[i].free(b.pool)
			v.v[i].free(b.pool)
		}
	}
}

func (b *Backend) NewKVCache(layers, blocks, blockSize, kvHeads, headDim int) compute.KVCache {
	b.enter()
	defer b.leave()
	c := &KVCache{blocks: blocks, blockSize: blockSize, width: kvHeads * headDim, dtype: b.opts.KV}
	bytes := blocks * blockSize * c.width * c.dtype.size()
	for range layers {
		c.k = append(c.k, b.newDevBuf(bytes))
		c.v = append(c.v, b.newDevBuf(bytes))
	}
	return c
}

// scratch returns the named grow-only device buffer with at least bytes.
// Reusing it across calls is safe because the stream orders all work.
func (b *Backend) scratch(name string, bytes int) uintptr {
	if s := b.bufs[name]; s != nil && s.bytes >= bytes {
		return s.ptr
	} else if s != nil {
		s.free(b.pool)
	}
	s := b.newDevBuf(bytes + bytes/4)
	b.bufs[name] = s
	return s.ptr
}

// stagingRing is pinned host memory that uploads are copied through, so every
// host-to-device copy is truly asynchronous and its Go source is free to change
// as soon as the call returns.
type stagingRing struct {
	host unsafe.Pointer
	size int
	off  int
}

func (b *Backend) newStagingRing(size int) (*stagingRing, error) {
	p := newOut[unsafe.Pointer]()
	if err := b.d.call("cuMemAllocHost_v2", p.ptr(), uintptr(size)); err != nil {
		p.get()
		return nil, err
	}
	return &stagingRing{host: p.get(), size: size}, nil
}

// upload copies host bytes to dst on the stream through the staging ring.
func (b *Backend) upload(dst uintptr, host []byte) {
	for len(host) > 0 {
		r := b.stage
		n := min(len(host), r.size)
		if r.off+n > r.size {
			// Wrapping over bytes earlier copies may still be reading.
			b.must(b.d.call("cuStreamSynchronize", b.stream))
			r.off = 0
		}
		at := unsafe.Add(r.host, r.off)
		copy(unsafe.Slice((*byte)(at), n), host[:n])
		b.must(b.d.call("cuMemcpyHtoDAsync_v2", dst, uintptr(at), uintptr(n), b.stream))
		r.off = (r.off + n + 255) &^ 255
		host, dst = host[n:], dst+uintptr(n)
	}
}

// uploadInts uploads a small int32 table into the named metadata buffer.
func (b *Backend) uploadInts(name string, v []int32) uintptr {
	bytes := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
	p := b.scratch(name, max(len(bytes), 4))
	b.upload(p, bytes)
	return p
}

func (b *Backend) Read(dst []float32, src compute.Buffer) {
	b.enter()
	defer b.leave()
	s := dbuf(src)
	n := min(len(dst), s.n) * 4
	// Through the staging ring's start after a full synchronisation.
	b.must(b.d.call("cuStreamSynchronize", b.stream))
	b.stage.off = 0
	out := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), n)
	for done := 0; done < n; {
		c := min(n-done, b.stage.size)
		b.must(b.d.call("cuMemcpyDtoHAsync_v2", uintptr(b.stage.host), s.ptr+uintptr(done), uintptr(c), b.stream))
		b.must(b.d.call("cuStreamSynchronize", b.stream))
		copy(out[done:done+c], unsafe.Slice((*byte)(b.stage.host), c))
		done += c
	}
}

func (b *Backend) Write(dst compute.Buffer, src []float32) {
	b.enter()
	defer b.leave()
	d := dbuf(dst)
	n := min(len(src), d.n)
	b.upload(d.ptr, encode(src[:n], F32))
}

// RandomMatrix is a rows x cols matrix of deterministic pseudo-random weights
// (uniform, standard deviation std) generated on the device, for benchmarks.
func (b *Backend) RandomMatrix(rows, cols int, seed uint32, std float32) compute.Matrix {
	b.enter()
	defer b.leave()
	n := rows * cols
	m := &Matrix{devBuf: b.newDevBuf(n * b.opts.Weights.size()), rows: rows, cols: cols, dtype: b.opts.Weights}
	b.launch("fill_hash_"+m.dtype.String(), grid1(blocks1D(n, threads)), grid1(threads), m.ptr, i64(n), i32(seed), f32(std))
	return m
}
