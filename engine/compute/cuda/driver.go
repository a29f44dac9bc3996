package cuda

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/ebitengine/purego"
)

// driver holds the CUDA driver API entry points, resolved from libcuda.so.1 at
// run time so the binary builds with CGO_ENABLED=0 and runs on any driver whose
// stable ABI has these symbols (the _v2 names are the ones cuda.h maps to).
type driver struct {
	lib uintptr
	fn  map[string]uintptr
}

var driverSymbols = []string{
	"cuInit", "cuDriverGetVersion", "cuDeviceGetCount", "cuDeviceGet", "cuDeviceGetName",
	"cuDeviceGetAttribute", "cuDeviceTotalMem_v2", "cuDevicePrimaryCtxRetain",
	"cuDevicePrimaryCtxRelease_v2", "cuCtxSetCurrent", "cuStreamCreate", "cuStreamSynchronize",
	"cuStreamDestroy_v2", "cuEventCreate", "cuEventRecord", "cuEventSynchronize",
	"cuEventElapsedTime", "cuEventDestroy_v2", "cuMemAlloc_v2", "cuMemFree_v2", "cuMemAllocHost_v2",
	"cuMemFreeHost", "cuMemcpyHtoDAsync_v2", "cuMemcpyDtoHAsync_v2", "cuMemcpyDtoDAsync_v2",
	"cuMemsetD32Async", "cuMemGetInfo_v2", "cuModuleLoadData", "cuModuleGetFunction",
	"cuModuleUnload", "cuLaunchKernel", "cuGetErrorString", "cuGetErrorName",
}

// Device attributes (CUdevice_attribute) the backend reads.
const (
	attrSMCount       = 16
	attrMemClockKHz   = 36
	attrMemBusWidth   = 37
	attrComputeMajor  = 75
	attrComputeMinor  = 76
	streamNonBlocking = 1
)

// errNoDevice wraps every reason a CUDA device cannot be used, so callers
// (--device auto) can fall back to the CPU and say why.
var errNoDevice = errors.New("no CUDA device")

// loadLibrary opens the first of names that dlopen finds.
func loadLibrary(names []string) (uintptr, string, error) {
	var errs []error
	for _, n := range names {
		h, err := purego.Dlopen(n, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err == nil {
			return h, n, nil
		}
		errs = append(errs, err)
	}
	return 0, "", errors.Join(errs...)
}

func resolve(lib uintptr, libName string, names []string) (map[string]uintptr, error) {
	fn := make(map[string]uintptr, len(names))
	for _, n := range names {
		p, err := purego.Dlsym(lib, n)
		if err != nil || p == 0 {
			return nil, fmt.Errorf("%s has no symbol %s", libName, n)
		}
		fn[n] = p
	}
	return fn, nil
}

func openDriver() (*driver, error) {
	if runtime.GOOS != "linux" {
		return nil, fmt.Errorf("%w: the CUDA backend runs on linux, not %s", errNoDevice, runtime.GOOS)
	}
	lib, name, err := loadLibrary([]string{"libcuda.so.1", "libcuda.so"})
	if err != nil {
		return nil, fmt.Errorf("%w: cannot load the driver library libcuda.so.1 (no NVIDIA driver installed?): %v", errNoDevice, err)
	}
	fn, err := resolve(lib, name, driverSymbols)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoDevice, err)
	}
	return &driver{lib: lib, fn: fn}, nil
}

// call invokes a driver function and turns a non-zero CUresult into an error
// naming the function and the driver's description.
func (d *driver) call(name string, args ...uintptr) error {
	r, _, _ := purego.SyscallN(d.fn[name], args...)
	if r == 0 {
		return nil
	}
	return &driverError{fn: name, code: int(r), msg: d.errorString(r)}
}

func (d *driver) errorString(code uintptr) string {
	p := newOut[*byte]()
	purego.SyscallN(d.fn["cuGetErrorName"], code, p.ptr())
	name := cString(*p.v)
	purego.SyscallN(d.fn["cuGetErrorString"], code, p.ptr())
	s := cString(p.get())
	if s != "" {
		return name + ": " + s
	}
	return name
}

// driverError is a failed driver call.
type driverError struct {
	fn   string
	code int
	msg  string
}

func (e *driverError) Error() string { return fmt.Sprintf("%s failed (%d %s)", e.fn, e.code, e.msg) }

// cString copies a NUL-terminated C string owned by the driver.
func cString(p *byte) string {
	if p == nil {
		return ""
	}
	var b []byte
	for i := 0; i < 4096; i++ {
		c := *(*byte)(unsafe.Add(unsafe.Pointer(p), i))
		if c == 0 {
			break
		}
		b = append(b, c)
	}
	return string(b)
}

// out is a pinned heap cell for an out-parameter: the driver writes through
// its address, so it must neither live on a movable stack nor be collected.
type out[T any] struct {
	v   *T
	pin runtime.Pinner
}

func newOut[T any]() *out[T] {
	o := &out[T]{v: new(T)}
	o.pin.Pin(o.v)
	return o
}

func (o *out[T]) ptr() uintptr { return uintptr(unsafe.Pointer(o.v)) }

// get returns the value and unpins the cell.
func (o *out[T]) get() T {
	v := *o.v
	o.pin.Unpin()
	return v
}

// cBytes returns a NUL-terminated copy of s and a pinner holding it.
func cBytes(s string) ([]byte, *runtime.Pinner) {
	b := append([]byte(s), 0)
	p := new(runtime.Pinner)
	p.Pin(&b[0])
	return b, p
}
