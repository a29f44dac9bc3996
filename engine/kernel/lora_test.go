package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// loraSpecials are the values an expand must carry as Axpy does: signed
// zeros, a subnormal, the infinities and NaN.
var loraSpecials = []float32{0, float32(math.Copysign(0, -1)), 1e-40, float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())}

// checkExpand compares ExpandLoRA and ExpandLoRABF16 against rank Axpy
// calls on B's columns, bit for bit; only at the portable level may a NaN
// be any NaN, as its scalar adds may take either operand's.
func checkExpand(t *testing.T, rows, rank int, seed uint64, specials bool) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 21))
	y0, c, bh := randVec(rng, rows), randVec(rng, rank), randBF16(rng, rows*rank)
	if specials {
		for range 1 + (rows+rank)/8 {
			s := loraSpecials[rng.IntN(len(loraSpecials))]
			switch rng.IntN(3) {
			case 0:
				if rows > 0 {
					y0[rng.IntN(rows)] = s
				}
			case 1:
				c[rng.IntN(rank)] = s
			default:
				if rows > 0 {
					bh[rng.IntN(rows*rank)] = uint16(math.Float32bits(s) >> 16)
				}
			}
		}
	}
	b := widenBF16(bh)
	want := append([]float32(nil), y0...)
	col := make([]float32, rows)
	for k := range rank {
		for r := range rows {
			col[r] = b[r*rank+k]
		}
		Axpy(want, c[k], col)
	}
	got := append([]float32(nil), y0...)
	ExpandLoRA(got, c, LoRAPanels(b, rows, rank))
	gotH := append([]float32(nil), y0...)
	ExpandLoRABF16(gotH, c, LoRAPanelsBF16(bh, rows, rank))
	same := func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }
	if Level() == "portable" {
		same = sameBits
	}
	for i := range want {
		if !same(got[i], want[i]) || !same(gotH[i], want[i]) {
			t.Fatalf("%d rows, rank %d (seed %d): [%d] = %g (f32), %g (bf16), Axpy gives %g",
				rows, rank, seed, i, got[i], gotH[i], want[i])
		}
	}
}

// TestExpandLoRAMatchesAxpy: a fused expand must give each output the bits
// the row-by-row axpys gave, or a batch's LoRA deltas would change with the
// kernel. The lengths cover whole panels, a partial last one and none, and at 200 both
// the four-panel and the one-panel loops of the 16-lane expand.
func TestExpandLoRAMatchesAxpy(t *testing.T) {
	t.Logf("kernel level: %s", Level())
	seed := uint64(0)
	for _, rows := range []int{0, 1, 7, 8, 9, 17, 100, 200, 768, 2048} {
		for _, rank := range []int{1, 2, 7, 16, 64} {
			seed++
			checkExpand(t, rows, rank, seed, false)
			checkExpand(t, rows, rank, seed, true)
		}
	}
}

func FuzzExpandLoRA(f *testing.F) {
	f.Add(uint16(768), uint8(16), uint64(1), true)
	f.Add(uint16(13), uint8(3), uint64(2), false)
	f.Fuzz(func(t *testing.T, rows uint16, rank uint8, seed uint64, specials bool) {
		checkExpand(t, int(rows%3000), 1+int(rank%80), seed, specials)
	})
}

func TestLoRAPanelsShortB(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("LoRAPanels took a B shorter than rows×rank")
		}
	}()
	LoRAPanels(make([]float32, 15), 4, 4)
}
