package cuda

import (
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/ebitengine/purego"
)

// cuBLAS v2 API values (cublas_api.h, library_types.h).
const (
	opN            = 0
	opT            = 1
	dataF32        = 0  // CUDA_R_32F
	dataF16        = 2  // CUDA_R_16F
	dataBF16       = 14 // CUDA_R_16BF
	compute32F     = 68 // CUBLAS_COMPUTE_32F
	compute32FPed  = 69 // CUBLAS_COMPUTE_32F_PEDANTIC: no TF32, no reduced-precision reductions
	gemmDefault    = -1 // CUBLAS_GEMM_DEFAULT
	mathPedantic   = 2  // CUBLAS_PEDANTIC_MATH
	mathDefault    = 0  // CUBLAS_DEFAULT_MATH
	mathNoReducedF = 16 // CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION
)

var cublasSymbols = []string{
	"cublasCreate_v2", "cublasDestroy_v2", "cublasSetStream_v2", "cublasSetMathMode",
	"cublasGetVersion_v2", "cublasGemmEx", "cublasGemmStridedBatchedEx",
}

// cublas is a cuBLAS handle bound to the backend's stream.
type cublas struct {
	fn      map[string]uintptr
	handle  uintptr
	version int
	path    string
	// alpha and beta live on the heap for the library to read through host pointers.
	alpha, beta *float32
}

// cublasCandidates lists where libcublas may be: an explicit $GRAFT_CUBLAS, the
// loader's search path by soname (newest first), then the CUDA toolkit and the
// pip wheels that PyTorch installs (which are not on the loader path).
func cublasCandidates() []string {
	var c []string
	if p := os.Getenv("GRAFT_CUBLAS"); p != "" {
		return []string{p}
	}
	for _, v := range []string{"13", "12", "11"} {
		c = append(c, "libcublas.so."+v)
	}
	c = append(c, "libcublas.so")
	for _, g := range []string{
		"/usr/local/cuda/lib64/libcublas.so.*",
		"/usr/local/lib/python3*/*-packages/nvidia/cu*/lib/libcublas.so.*",
		"/usr/local/lib/python3*/*-packages/nvidia/cublas/lib/libcublas.so.*",
		"/usr/lib/python3*/*-packages/nvidia/cu*/lib/libcublas.so.*",
		"/opt/conda/lib/python3*/site-packages/nvidia/cu*/lib/libcublas.so.*",
		"/opt/conda/lib/libcublas.so.*",
	} {
		m, _ := filepath.Glob(g)
		c = append(c, m...)
	}
	return c
}

func openCublas(stream uintptr) (*cublas, error) {
	lib, name, err := loadLibrary(cublasCandidates())
	if err != nil {
		return nil, fmt.Errorf("cannot load cuBLAS (set GRAFT_CUBLAS to libcublas.so's path): %v", err)
	}
	fn, err := resolve(lib, name, cublasSymbols)
	if err != nil {
		return nil, err
	}
	c := &cublas{fn: fn, path: name, alpha: new(float32), beta: new(float32)}
	*c.alpha = 1
	h := newOut[uintptr]()
	if err := c.call("cublasCreate_v2", h.ptr()); err != nil {
		h.get()
		return nil, err
	}
	c.handle = h.get()
	v := newOut[int32]()
	if err := c.call("cublasGetVersion_v2", c.handle, v.ptr()); err == nil {
		c.version = int(v.get())
	}
	if err := c.call("cublasSetStream_v2", c.handle, stream); err != nil {
		return nil, err
	}
	// Pedantic math: no TF32 and no reduced-precision split-K reductions, so F32
	// weights give float32 results and BF16/F16 weights accumulate in float32.
	if err := c.call("cublasSetMathMode", c.handle, mathPedantic); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *cublas) call(name string, args ...uintptr) error {
	r, _, _ := purego.SyscallN(c.fn[name], args...)
	if r != 0 {
		return fmt.Errorf("%s failed with cublasStatus %d", name, r)
	}
	return nil
}

func (c *cublas) close() {
	if c.handle != 0 {
		_ = c.call("cublasDestroy_v2", c.handle)
		c.handle = 0
	}
}

// gemm computes C[n][m] = B[n][k] · A[m][k]ᵀ in row-major terms: A is the
// weight (m output features of k inputs), B the n activation rows, C float32.
// In cuBLAS's column-major view that is C(m×n) = op(A)=Aᵀ(m×k) · B(k×n).
func (c *cublas) gemm(m, n, k int, a uintptr, aType int, b uintptr, bType int, cOut uintptr) error {
	ct := compute32F
	if aType == dataF32 {
		ct = compute32FPed
	}
	err := c.call("cublasGemmEx", c.handle, opT, opN, uintptr(m), uintptr(n), uintptr(k),
		uintptr(unsafe.Pointer(c.alpha)), a, uintptr(aType), uintptr(k),
		b, uintptr(bType), uintptr(k),
		uintptr(unsafe.Pointer(c.beta)), cOut, dataF32, uintptr(m),
		uintptr(ct), uintptr(gemmDefault&0xffffffff))
	if err != nil {
		return fmt.Errorf("gemm m=%d n=%d k=%d: %w", m, n, k, err)
	}
	return nil
}

// gemmBatched is gemm over count independent activation blocks of n rows
// sharing one weight (stride 0), for the benchmark's comparison of batched
// prefill; the forward pass uses gemm (see matmul.go for why).
func (c *cublas) gemmBatched(m, n, k int, a uintptr, aType int, b uintptr, bType int, cOut uintptr, count int) error {
	ct := compute32F
	if aType == dataF32 {
		ct = compute32FPed
	}
	err := c.call("cublasGemmStridedBatchedEx", c.handle, opT, opN, uintptr(m), uintptr(n), uintptr(k),
		uintptr(unsafe.Pointer(c.alpha)), a, uintptr(aType), uintptr(k), 0,
		b, uintptr(bType), uintptr(k), uintptr(n*k),
		uintptr(unsafe.Pointer(c.beta)), cOut, dataF32, uintptr(m), uintptr(m*n),
		uintptr(count), uintptr(ct), uintptr(gemmDefault&0xffffffff))
	if err != nil {
		return fmt.Errorf("batched gemm m=%d n=%d k=%d x%d: %w", m, n, k, count, err)
	}
	return nil
}
