package cuda

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"unsafe"
)

// launchArgs is pinned heap memory for kernel parameters: cuLaunchKernel reads
// an array of pointers to each argument's bytes (and copies them before it
// returns), so one arena is reused by every launch under the backend's lock.
type launchArgs struct {
	arena [1024]byte
	ptrs  [32]uintptr
	pin   runtime.Pinner
}

func newLaunchArgs() *launchArgs {
	a := new(launchArgs)
	a.pin.Pin(a)
	return a
}

// kernel argument kinds; the C side declares them as pointer, int, long,
// float and (for the attention) a struct passed by value.
type (
	i32 int32
	i64 int64
	f32 float32
	raw []byte
)

// set lays the arguments out at their natural alignment and returns the
// address of the pointer array.
func (a *launchArgs) set(args []any) uintptr {
	off := 0
	put := func(i int, b []byte, align int) {
		off = (off + align - 1) &^ (align - 1)
		copy(a.arena[off:], b)
		a.ptrs[i] = uintptr(unsafe.Pointer(&a.arena[off]))
		off += len(b)
	}
	var w [8]byte
	for i, x := range args {
		switch v := x.(type) {
		case uintptr:
			binary.LittleEndian.PutUint64(w[:], uint64(v))
			put(i, w[:8], 8)
		case i32:
			binary.LittleEndian.PutUint32(w[:], uint32(v))
			put(i, w[:4], 4)
		case i64:
			binary.LittleEndian.PutUint64(w[:], uint64(v))
			put(i, w[:8], 8)
		case f32:
			binary.LittleEndian.PutUint32(w[:], math.Float32bits(float32(v)))
			put(i, w[:4], 4)
		case raw:
			put(i, v, 8)
		default:
			panic(fmt.Sprintf("cuda: kernel argument %d has unsupported type %T", i, x))
		}
	}
	return uintptr(unsafe.Pointer(&a.ptrs[0]))
}

// dim3 is a grid or block shape.
type dim3 struct{ x, y, z int }

// launch queues kernel name on the stream. Callers hold the backend (enter).
func (b *Backend) launch(name string, grid, block dim3, args ...any) {
	if grid.x == 0 || grid.y == 0 || grid.z == 0 {
		return // nothing to do (an empty batch)
	}
	fn, ok := b.fns[name]
	if !ok {
		panic("cuda: no kernel " + name)
	}
	params := b.args.set(args)
	err := b.d.call("cuLaunchKernel", fn, uintptr(grid.x), uintptr(grid.y), uintptr(grid.z),
		uintptr(block.x), uintptr(block.y), uintptr(block.z), 0, b.stream, params, 0)
	if err != nil {
		panic(fmt.Errorf("cuda: launching %s grid %v block %v: %w", name, grid, block, err))
	}
}

func grid1(x int) dim3 { return dim3{x, 1, 1} }
