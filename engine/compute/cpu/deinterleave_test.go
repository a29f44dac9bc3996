package cpu

import "testing"

// TestDeinterleave: each head's pairs (2i, 2i+1) land at (i, i+headDim/2),
// for head sizes through the scalar and the vector Unpair, the backend's
// scratch growing between them.
func TestDeinterleave(t *testing.T) {
	b := New(1)
	defer b.Close()
	for _, headDim := range []int{2, 64, 256, 512} {
		const rows, heads = 3, 2
		x := make(Buffer, rows*heads*headDim)
		for i := range x {
			x[i] = float32(i)
		}
		b.Deinterleave(x, rows, heads, headDim)
		for h := range rows * heads {
			for i := range headDim / 2 {
				base := h * headDim
				if x[base+i] != float32(base+2*i) || x[base+headDim/2+i] != float32(base+2*i+1) {
					t.Fatalf("headDim %d, head %d, pair %d: got %v and %v", headDim, h, i, x[base+i], x[base+headDim/2+i])
				}
			}
		}
	}
}
