package cuda

import "github.com/graft-ai/graft/engine/compute"

// MatMul runs out = x · wᵀ through cuBLAS GemmEx (BF16/F16 inputs with float32
// accumulate and output, or pedantic F32).
//
// Batch invariance: cuBLAS picks its kernel (tile shape, split-K) from the
// problem size, so the same row could round differently in a batch of 1 and
// of 64. Every call therefore has exactly gemmChunk activation rows: a step's
// rows are cut into chunks of gemmChunk and the last is padded with zero rows.
// With (m, n, k) fixed per weight, cuBLAS runs the same algorithm for every
// chunk, and its results are bitwise reproducible on one GPU model (cuBLAS's
// reproducibility guarantee for one stream, with atomics off, its default), so
// a row's output depends only on the row. The padding costs little: at
// gemmChunk=128 rows a decode GEMM is still bound by reading the weight. The
// device tests check it bitwise (TestDeviceMatMulBatchInvariant).
func (b *Backend) MatMul(out, x compute.Buffer, w compute.Matrix, rows int) {
	if rows == 0 {
		return
	}
	b.enter()
	defer b.leave()
	m := dmat(w)
	n, k, es := m.rows, m.cols, m.dtype.size()
	pr := paddedRows(rows)
	in := b.scratch("gemm_in", pr*k*es)
	b.launch("convert_"+m.dtype.String(), grid1(blocks1D(pr*k, threads)), grid1(threads), in, dbuf(x).ptr, i64(rows*k), i64(pr*k))
	full, tail := gemmChunks(rows)
	o := dbuf(out).ptr
	for c := range full {
		b.must(b.blas.gemm(n, gemmChunk, k, m.ptr, m.dtype.cublas(), in+uintptr(c*gemmChunk*k*es), m.dtype.cublas(), o+uintptr(c*gemmChunk*n*4)))
	}
	if tail > 0 {
		tmp := b.scratch("gemm_out", gemmChunk*n*4)
		b.must(b.blas.gemm(n, gemmChunk, k, m.ptr, m.dtype.cublas(), in+uintptr(full*gemmChunk*k*es), m.dtype.cublas(), tmp))
		b.must(b.d.call("cuMemcpyDtoDAsync_v2", o+uintptr(full*gemmChunk*n*4), tmp, uintptr(tail*n*4), b.stream))
	}
}

// MatMulBatched is MatMul as one strided-batched GemmEx over all padded chunks,
// which may be faster for long prefills but lets cuBLAS choose by batch count,
// so it is not used by the forward pass; the benchmark compares the two.
func (b *Backend) MatMulBatched(out, x compute.Buffer, w compute.Matrix, rows int) {
	b.enter()
	defer b.leave()
	m := dmat(w)
	n, k, es := m.rows, m.cols, m.dtype.size()
	pr := paddedRows(rows)
	in := b.scratch("gemm_in", pr*k*es)
	b.launch("convert_"+m.dtype.String(), grid1(blocks1D(pr*k, threads)), grid1(threads), in, dbuf(x).ptr, i64(rows*k), i64(pr*k))
	tmp := b.scratch("gemm_batched_out", pr*n*4)
	b.must(b.blas.gemmBatched(n, gemmChunk, k, m.ptr, m.dtype.cublas(), in, m.dtype.cublas(), tmp, pr/gemmChunk))
	b.must(b.d.call("cuMemcpyDtoDAsync_v2", dbuf(out).ptr, tmp, uintptr(rows*n*4), b.stream))
}
