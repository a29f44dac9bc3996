// Package cuda is the CUDA compute backend: float32 activations and BF16/F16
// (or F32) weights in device memory, kernels from embedded PTX, GEMMs through
// cuBLAS. The driver API and cuBLAS are loaded at run time with purego, so the
// binary stays CGO_ENABLED=0 and uses whatever CUDA user space the machine has.
package cuda

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/graft-ai/graft/engine/compute"
)

// DType is how matrices or the KV cache are stored on the device.
type DType int

const (
	BF16 DType = iota
	F16
	F32
)

func (d DType) String() string { return [...]string{"bf16", "f16", "f32"}[d] }

func (d DType) size() int {
	if d == F32 {
		return 4
	}
	return 2
}

func (d DType) cublas() int { return [...]int{dataBF16, dataF16, dataF32}[d] }

// Options configure Open.
type Options struct {
	Ordinal int
	Weights DType // storage of every Matrix (default BF16)
	KV      DType // storage of the KV cache (default BF16)
	// MemoryLimit caps the pool's reservation in bytes (0: the device's memory).
	MemoryLimit uint64
}

// DeviceInfo describes the opened GPU.
type DeviceInfo struct {
	Name             string
	Ordinal          int
	Major, Minor     int
	SMs              int
	TotalMemory      uint64
	BandwidthBytesPS float64 // theoretical peak from clock and bus width
	DriverVersion    int
	CublasVersion    int
	CublasPath       string
}

// Backend implements compute.Backend on one GPU with one stream.
type Backend struct {
	mu     sync.Mutex
	d      *driver
	dev    uintptr
	ctx    uintptr
	stream uintptr
	mod    uintptr
	fns    map[string]uintptr
	blas   *cublas
	pool   *pool
	opts   Options
	info   DeviceInfo
	args   *launchArgs
	stage  *stagingRing
	bufs   map[string]*devBuf // grow-only scratch and metadata buffers by use
	freqs  map[*float64]*devBuf
	closed bool
}

var _ compute.Backend = (*Backend)(nil)

// Open opens GPU ordinal with BF16 weights and KV cache.
func Open(ordinal int) (*Backend, error) { return OpenWith(Options{Ordinal: ordinal}) }

// OpenWith opens a GPU. Every failure is an error (wrapping ErrNoDevice when
// there is no usable driver or device), never a crash.
func OpenWith(o Options) (_ *Backend, err error) {
	d, err := openDriver()
	if err != nil {
		return nil, err
	}
	b := &Backend{d: d, opts: o, fns: map[string]uintptr{}, bufs: map[string]*devBuf{}, freqs: map[*float64]*devBuf{}}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer func() {
		if err != nil {
			b.teardown()
		}
	}()
	if err := d.call("cuInit", 0); err != nil {
		return nil, fmt.Errorf("%w: %v", errNoDevice, err)
	}
	if err := b.openDevice(o.Ordinal); err != nil {
		return nil, err
	}
	if err := b.openContext(); err != nil {
		return nil, err
	}
	if err := b.loadModule(); err != nil {
		return nil, err
	}
	if b.blas, err = openCublas(b.stream); err != nil {
		return nil, err
	}
	b.info.CublasVersion, b.info.CublasPath = b.blas.version, b.blas.path
	b.pool = newPool(b.memAlloc, b.memFree, o.MemoryLimit)
	b.args = newLaunchArgs()
	if b.stage, err = b.newStagingRing(16 << 20); err != nil {
		return nil, err
	}
	return b, nil
}

// ErrNoDevice is wrapped by Open's error when no driver or GPU is usable.
var ErrNoDevice = errNoDevice

func (b *Backend) openDevice(ordinal int) error {
	d := b.d
	v := newOut[int32]()
	if err := d.call("cuDriverGetVersion", v.ptr()); err == nil {
		b.info.DriverVersion = int(v.get())
	}
	n := newOut[int32]()
	if err := d.call("cuDeviceGetCount", n.ptr()); err != nil {
		return fmt.Errorf("%w: %v", errNoDevice, err)
	}
	count := int(n.get())
	if ordinal < 0 || ordinal >= count {
		return fmt.Errorf("%w: device %d requested, %d present", errNoDevice, ordinal, count)
	}
	dev := newOut[int32]()
	if err := d.call("cuDeviceGet", dev.ptr(), uintptr(ordinal)); err != nil {
		return fmt.Errorf("%w: %v", errNoDevice, err)
	}
	b.dev = uintptr(dev.get())
	name := make([]byte, 256)
	var pin runtime.Pinner
	pin.Pin(&name[0])
	err := d.call("cuDeviceGetName", uintptr(unsafe.Pointer(&name[0])), 256, b.dev)
	pin.Unpin()
	if err != nil {
		return err
	}
	b.info.Name = cString(&name[0])
	b.info.Ordinal = ordinal
	attr := func(a int) int {
		o := newOut[int32]()
		if d.call("cuDeviceGetAttribute", o.ptr(), uintptr(a), b.dev) != nil {
			o.get()
			return 0
		}
		return int(o.get())
	}
	b.info.Major, b.info.Minor = attr(attrComputeMajor), attr(attrComputeMinor)
	b.info.SMs = attr(attrSMCount)
	b.info.BandwidthBytesPS = 2 * float64(attr(attrMemClockKHz)) * 1e3 * float64(attr(attrMemBusWidth)) / 8
	tm := newOut[uint64]()
	if err := d.call("cuDeviceTotalMem_v2", tm.ptr(), b.dev); err != nil {
		return err
	}
	b.info.TotalMemory = tm.get()
	return nil
}

func (b *Backend) openContext() error {
	ctx := newOut[uintptr]()
	if err := b.d.call("cuDevicePrimaryCtxRetain", ctx.ptr(), b.dev); err != nil {
		return fmt.Errorf("%w: %v", errNoDevice, err)
	}
	b.ctx = ctx.get()
	if err := b.d.call("cuCtxSetCurrent", b.ctx); err != nil {
		return err
	}
	s := newOut[uintptr]()
	if err := b.d.call("cuStreamCreate", s.ptr(), streamNonBlocking); err != nil {
		return err
	}
	b.stream = s.get()
	return nil
}

func (b *Backend) loadModule() error {
	ptx, err := ptxFor(b.info.Major, b.info.Minor)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", errNoDevice, b.info.Name, err)
	}
	img, pin := cBytes(string(ptx))
	defer pin.Unpin()
	mod := newOut[uintptr]()
	if err := b.d.call("cuModuleLoadData", mod.ptr(), uintptr(unsafe.Pointer(&img[0]))); err != nil {
		mod.get()
		return fmt.Errorf("loading the kernels' PTX (driver %d): %w", b.info.DriverVersion, err)
	}
	b.mod = mod.get()
	for _, k := range kernelNames {
		name, p := cBytes(k)
		f := newOut[uintptr]()
		err := b.d.call("cuModuleGetFunction", f.ptr(), b.mod, uintptr(unsafe.Pointer(&name[0])))
		p.Unpin()
		if err != nil {
			f.get()
			return fmt.Errorf("kernel %s: %w", k, err)
		}
		b.fns[k] = f.get()
	}
	return nil
}

// Info describes the device.
func (b *Backend) Info() DeviceInfo { return b.info }

// Options returns the options the backend was opened with.
func (b *Backend) Options() Options { return b.opts }

// Stats is the device memory pool's accounting.
func (b *Backend) Stats() PoolStats { return b.pool.Stats() }

// MemInfo is the driver's free and total device memory.
func (b *Backend) MemInfo() (free, total uint64, err error) {
	b.enter()
	defer b.leave()
	f, t := newOut[uint64](), newOut[uint64]()
	err = b.d.call("cuMemGetInfo_v2", f.ptr(), t.ptr())
	return f.get(), t.get(), err
}

// enter binds the context to this OS thread for the duration of a call: CUDA
// contexts are per thread and goroutines move between threads.
func (b *Backend) enter() {
	b.mu.Lock()
	runtime.LockOSThread()
	if b.closed {
		runtime.UnlockOSThread()
		b.mu.Unlock()
		panic("cuda: backend used after Close")
	}
	b.must(b.d.call("cuCtxSetCurrent", b.ctx))
}

func (b *Backend) leave() {
	runtime.UnlockOSThread()
	b.mu.Unlock()
}

// must turns a failed driver call inside a compute.Backend method (which
// cannot return errors) into a panic that names the call.
func (b *Backend) must(err error) {
	if err != nil {
		panic(fmt.Errorf("cuda: %w", err))
	}
}

// Sync waits for all queued work.
func (b *Backend) Sync() error {
	b.enter()
	defer b.leave()
	return b.d.call("cuStreamSynchronize", b.stream)
}

// Close waits for the stream, then frees every device allocation and handle.
func (b *Backend) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_ = b.d.call("cuCtxSetCurrent", b.ctx)
	_ = b.d.call("cuStreamSynchronize", b.stream)
	b.teardown()
	b.closed = true
}

func (b *Backend) teardown() {
	if b.blas != nil {
		b.blas.close()
	}
	if b.pool != nil {
		b.pool.releaseAll()
	}
	if b.stage != nil {
		_ = b.d.call("cuMemFreeHost", uintptr(b.stage.host))
	}
	if b.mod != 0 {
		_ = b.d.call("cuModuleUnload", b.mod)
	}
	if b.stream != 0 {
		_ = b.d.call("cuStreamDestroy_v2", b.stream)
	}
	if b.ctx != 0 {
		_ = b.d.call("cuDevicePrimaryCtxRelease_v2", b.dev)
	}
}

func (b *Backend) memAlloc(n uint64) (uintptr, error) {
	p := newOut[uintptr]()
	if err := b.d.call("cuMemAlloc_v2", p.ptr(), uintptr(n)); err != nil {
		p.get()
		return 0, err
	}
	return p.get(), nil
}

func (b *Backend) memFree(p uintptr) { _ = b.d.call("cuMemFree_v2", p) }
