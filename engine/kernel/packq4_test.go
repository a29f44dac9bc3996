package kernel

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/graft-ai/graft/engine/gguf"
)

// TestPackQ4_0x8RoundTrip: every row unpacked from a packed matrix is the
// row as stored, and shapes that are not whole groups are refused.
func TestPackQ4_0x8RoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 40))
	for _, s := range [][2]int{{8, 32}, {16, 768}, {64, 96}} {
		rows, cols := s[0], s[1]
		w := randomQ(r, gguf.TypeQ4_0, rows, cols)
		p := make([]byte, len(w))
		PackQ4_0x8(p, w, rows, cols)
		if bytes.Equal(p, w) {
			t.Fatalf("%dx%d: packing changed nothing", rows, cols)
		}
		rb := cols / 32 * 18
		row := make([]byte, rb)
		for i := range rows {
			UnpackQ4_0x8Row(row, p, i, cols)
			if !bytes.Equal(row, w[i*rb:(i+1)*rb]) {
				t.Fatalf("%dx%d: row %d unpacks to other bytes", rows, cols, i)
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("12 rows (not whole groups of 8) were packed")
		}
	}()
	PackQ4_0x8(make([]byte, 12*18), make([]byte, 12*18), 12, 32)
}
