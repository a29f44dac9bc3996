package cuda

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"testing"
)

func TestSizeClass(t *testing.T) {
	for _, c := range []struct{ n, want uint64 }{
		{0, 256}, {1, 256}, {256, 256}, {257, 512}, {1000, 1024}, {2 << 20, 2 << 20},
		{2<<20 + 1, 4 << 20}, {5 << 20, 6 << 20},
	} {
		if got := sizeClass(c.n); got != c.want {
			t.Errorf("sizeClass(%d) = %d, want %d", c.n, got, c.want)
		}
	}
}

// fakeDevice stands in for cuMemAlloc/cuMemFree: pure accounting.
type fakeDevice struct {
	next, live uintptr
	bytes      uint64
	fail       bool
}

func (f *fakeDevice) alloc(n uint64) (uintptr, error) {
	if f.fail {
		return 0, errors.New("out of memory")
	}
	f.next += 1 << 32
	f.live++
	f.bytes += n
	return f.next, nil
}

func (f *fakeDevice) release(uintptr) { f.live-- }

func TestPoolReusesAndAccounts(t *testing.T) {
	dev := &fakeDevice{}
	p := newPool(dev.alloc, dev.release, 0)
	a, _ := p.get(1000)
	b, _ := p.get(1000)
	if a == b {
		t.Fatal("two live blocks share an address")
	}
	p.put(a)
	c, _ := p.get(900) // same class: reuses a without the driver
	if c != a || dev.live != 2 {
		t.Fatalf("no reuse: got %#x want %#x, %d driver blocks", c, a, dev.live)
	}
	s := p.Stats()
	if s.InUse != 2048 || s.Idle != 0 || s.Reserved != 2048 || s.Allocs != 3 || s.Frees != 1 || s.Peak != 2048 {
		t.Fatalf("stats %+v", s)
	}
	p.put(b)
	p.put(c)
	if s := p.Stats(); s.InUse != 0 || s.Idle != 2048 {
		t.Fatalf("after frees %+v", s)
	}
	p.releaseAll()
	if dev.live != 0 {
		t.Fatalf("%d blocks left on the device after releaseAll", dev.live)
	}
	p.put(a) // a cleanup that runs after Close is ignored
}

func TestPoolLimitTrimsIdleFirst(t *testing.T) {
	dev := &fakeDevice{}
	p := newPool(dev.alloc, dev.release, 4096)
	a, _ := p.get(2048)
	p.put(a)
	if _, err := p.get(4096); err != nil { // needs the idle 2048 trimmed
		t.Fatal(err)
	}
	if _, err := p.get(256); err == nil {
		t.Fatal("allocation past the limit succeeded")
	}
	dev.fail = true
	p2 := newPool(dev.alloc, dev.release, 0)
	if _, err := p2.get(10); err == nil {
		t.Fatal("driver failure not reported")
	}
}

func TestPoolDoubleFreePanics(t *testing.T) {
	p := newPool((&fakeDevice{}).alloc, func(uintptr) {}, 0)
	a, _ := p.get(10)
	p.put(a)
	defer func() {
		if recover() == nil {
			t.Fatal("double free did not panic")
		}
	}()
	p.put(a)
}

func TestAdapterCapacity(t *testing.T) {
	// Llama-3-8B shapes, rank 16, all seven projections, BF16.
	shapes := [][2]int{{4096, 4096}, {1024, 4096}, {1024, 4096}, {4096, 4096}, {14336, 4096}, {14336, 4096}, {4096, 14336}}
	per := AdapterBytes(32, shapes, 16, 2)
	raw := uint64(0)
	for _, s := range shapes {
		raw += 32 * 16 * 2 * uint64(s[0]+s[1])
	}
	if per < raw || per > raw+raw/4 {
		t.Fatalf("adapter bytes %d, raw size %d", per, raw)
	}
	if n := AdapterSlotCapacity(10*per, 0.5, per); n != 5 {
		t.Fatalf("capacity %d, want 5", n)
	}
	if AdapterSlotCapacity(10*per, 0, per) != 0 || AdapterSlotCapacity(10*per, 2, per) != 10 {
		t.Fatal("fraction not clamped to [0, 1]")
	}
}

func TestGemmChunks(t *testing.T) {
	for _, c := range []struct{ rows, full, tail, padded int }{
		{1, 0, 1, 128}, {128, 1, 0, 128}, {129, 1, 1, 256}, {300, 2, 44, 384},
	} {
		f, tl := gemmChunks(c.rows)
		if f != c.full || tl != c.tail || paddedRows(c.rows) != c.padded {
			t.Errorf("rows %d: %d full + %d tail, padded %d", c.rows, f, tl, paddedRows(c.rows))
		}
	}
}

func TestQueryTiles(t *testing.T) {
	// A 20-token prefill of sequence 0, two decodes, and a 3-token chunk of 1.
	var seq, pos []int32
	for i := range 20 {
		seq, pos = append(seq, 0), append(pos, int32(i))
	}
	seq, pos = append(seq, 2, 3, 1, 1, 1), append(pos, 40, 7, 5, 6, 7)
	tiles, warps := queryTiles(seq, pos)
	want := []int32{0, 16, 16, 4, 20, 1, 21, 1, 22, 3}
	if !slices.Equal(tiles, want) || warps != 4 {
		t.Fatalf("tiles %v warps %d, want %v and 4", tiles, warps, want)
	}
	if _, w := queryTiles([]int32{0, 1}, []int32{9, 9}); w != 1 {
		t.Fatal("decode-only steps should launch one warp per block")
	}
	if attnSplits([]int32{0, 511}) != 1 || attnSplits([]int32{512}) != 2 {
		t.Fatal("split count")
	}
}

func TestFlattenTables(t *testing.T) {
	flat, stride := flattenTables([][]int32{{3, 1}, {7}, {}})
	if stride != 2 || !slices.Equal(flat, []int32{3, 1, 7, 0, 0, 0}) {
		t.Fatalf("flat %v stride %d", flat, stride)
	}
}

func TestSegTable(t *testing.T) {
	segs := []loraSeg{{0, 16, 16, 2, 0x1000, 0x2000}, {16, 17, 8, 0.5, 0x3000, 0x4000}, {18, 19, 64, 1, 0x5000, 0x6000}}
	buf, maxRank, err := segTable(segs, 19)
	if err != nil || maxRank != 64 || len(buf) != 3*segBytes {
		t.Fatalf("err %v maxRank %d len %d", err, maxRank, len(buf))
	}
	e := buf[segBytes:]
	if binary.LittleEndian.Uint32(e[0:]) != 16 || binary.LittleEndian.Uint32(e[8:]) != 8 ||
		math.Float32frombits(binary.LittleEndian.Uint32(e[12:])) != 0.5 || binary.LittleEndian.Uint64(e[24:]) != 0x4000 {
		t.Fatalf("segment 1 encoded as % x", e)
	}
	for _, bad := range [][]loraSeg{
		{{0, 2, 4, 1, 1, 1}, {1, 3, 4, 1, 1, 1}}, // overlap
		{{0, 0, 4, 1, 1, 1}},                     // empty
		{{0, 20, 4, 1, 1, 1}},                    // past the rows
		{{0, 1, 0, 1, 1, 1}},                     // rank 0
	} {
		if _, _, err := segTable(bad, 19); err == nil {
			t.Errorf("segments %v accepted", bad)
		}
	}
}

func TestAttnArgsLayout(t *testing.T) {
	a := attnArgs{q: 1, partial: 6, tableStride: 7, maxSplits: 13, scale: 0.125}
	b := a.encode()
	if len(b) != attnArgsBytes || binary.LittleEndian.Uint64(b[40:]) != 6 ||
		binary.LittleEndian.Uint32(b[48:]) != 7 || binary.LittleEndian.Uint32(b[72:]) != 13 ||
		math.Float32frombits(binary.LittleEndian.Uint32(b[76:])) != 0.125 {
		t.Fatalf("AttnArgs bytes % x", b)
	}
}

func TestLaunchArgsAlignment(t *testing.T) {
	a := newLaunchArgs()
	a.set([]any{i32(1), uintptr(2), f32(1.5), i64(3), raw(make([]byte, 80))})
	offs := make([]uintptr, 5)
	for i := range offs {
		offs[i] = a.ptrs[i] - a.ptrs[0]
	}
	if !slices.Equal(offs, []uintptr{0, 8, 16, 24, 32}) {
		t.Fatalf("argument offsets %v", offs)
	}
}
