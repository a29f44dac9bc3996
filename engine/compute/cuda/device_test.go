package cuda

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/float16"
)

// openDevice opens GPU 0 with the given storage types. Without GRAFT_CUDA=1
// the device tests skip; with it, a missing device is a failure, so the device
// script cannot pass by skipping.
func openDevice(t testing.TB, weights, kv DType) *Backend {
	t.Helper()
	b, err := OpenWith(Options{Weights: weights, KV: kv})
	if err != nil {
		if os.Getenv("GRAFT_CUDA") == "1" {
			t.Fatalf("GRAFT_CUDA=1 but %v", err)
		}
		t.Skipf("%v (set GRAFT_CUDA=1 on a GPU machine to run)", err)
	}
	t.Cleanup(b.Close)
	return b
}

func randVec(r *rand.Rand, n int, std float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64()) * std
	}
	return v
}

// roundTo rounds values to what the device stores for type t.
func roundTo(v []float32, t DType) []float32 {
	out := slices.Clone(v)
	for i, x := range out {
		switch t {
		case BF16:
			out[i] = float16.BF16ToFloat32(float16.Float32ToBF16(x))
		case F16:
			out[i] = float16.F16ToFloat32(float16.Float32ToF16(x))
		}
	}
	return out
}

// pair runs the same operation on the CPU reference and the GPU.
type pair struct {
	t   *testing.T
	cpu *cpu.Backend
	gpu *Backend
}

func newPair(t *testing.T, weights, kv DType) *pair {
	g := openDevice(t, weights, kv)
	c := cpu.New(0)
	t.Cleanup(c.Close)
	return &pair{t: t, cpu: c, gpu: g}
}

type bufs struct{ c, g compute.Buffer }
type mats struct{ c, g compute.Matrix }

func (p *pair) buf(v []float32) bufs {
	g := p.gpu.Alloc(len(v))
	p.gpu.Write(g, v)
	return bufs{c: cpu.Buffer(slices.Clone(v)), g: g}
}

func (p *pair) zeros(n int) bufs { return p.buf(make([]float32, n)) }

// mat gives the CPU the device-rounded weights, so only arithmetic differs.
func (p *pair) mat(v []float32, rows, cols int) mats {
	return mats{c: p.cpu.Matrix(roundTo(v, p.gpu.opts.Weights), rows, cols), g: p.gpu.Matrix(slices.Clone(v), rows, cols)}
}

// check compares the first n floats: |gpu-cpu| <= atol + rtol*|cpu|.
func (p *pair) check(name string, b bufs, n int, atol, rtol float64) {
	p.t.Helper()
	got := make([]float32, n)
	p.gpu.Read(got, b.g)
	want := []float32(b.c.(cpu.Buffer))[:n]
	worst, at := 0.0, -1
	for i := range n {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if d > atol+rtol*math.Abs(float64(want[i])) && d > worst {
			worst, at = d, i
		}
		if math.IsNaN(float64(got[i])) {
			p.t.Fatalf("%s: NaN at %d", name, i)
		}
	}
	if at >= 0 {
		p.t.Fatalf("%s: element %d is %g on the GPU, %g on the CPU (tolerance %g + %g·|x|)", name, at, got[at], want[at], atol, rtol)
	}
}

// Real sizes: Llama-3.2-1B (dim 2048, 32 heads of 64, 8 kv heads, FFN 8192).
const (
	tDim, tHeads, tKV, tHD, tFFN = 2048, 32, 8, 64, 8192
)

func TestDeviceElementwise(t *testing.T) {
	for _, wt := range []DType{F32, BF16} {
		p := newPair(t, wt, wt)
		r := rand.New(rand.NewPCG(1, uint64(wt)))
		rows := 37
		x := p.buf(randVec(r, rows*tDim, 1))
		w := p.mat(randVec(r, tDim, 1), 1, tDim)
		out := p.zeros(rows * tDim)
		p.cpu.RMSNorm(out.c, x.c, w.c, rows, 1e-5)
		p.gpu.RMSNorm(out.g, x.g, w.g, rows, 1e-5)
		p.check("rmsnorm "+wt.String(), out, rows*tDim, 1e-5, 1e-5)

		p.cpu.AddBias(x.c, w.c, rows)
		p.gpu.AddBias(x.g, w.g, rows)
		p.check("add_bias", x, rows*tDim, 0, 0)

		g, u := p.buf(randVec(r, rows*tFFN, 2)), p.buf(randVec(r, rows*tFFN, 2))
		o := p.zeros(rows * tFFN)
		p.cpu.SiLUMul(o.c, g.c, u.c, rows*tFFN)
		p.gpu.SiLUMul(o.g, g.g, u.g, rows*tFFN)
		p.check("silu_mul", o, rows*tFFN, 1e-6, 1e-5)
		p.cpu.Add(o.c, g.c, u.c, rows*tFFN)
		p.gpu.Add(o.g, g.g, u.g, rows*tFFN)
		p.check("add", o, rows*tFFN, 0, 0)

		table := p.mat(randVec(r, 1000*tDim, 1), 1000, tDim)
		tokens := []int32{5, 999, 0, 5, 17}
		e := p.zeros(len(tokens) * tDim)
		p.cpu.Embed(e.c, table.c, tokens)
		p.gpu.Embed(e.g, table.g, tokens)
		p.check("embed", e, len(tokens)*tDim, 0, 0)

		sel := p.zeros(3 * tDim)
		p.cpu.Gather(sel.c, x.c, []int32{36, 0, 20}, tDim)
		p.gpu.Gather(sel.g, x.g, []int32{36, 0, 20}, tDim)
		p.check("gather", sel, 3*tDim, 0, 0)
	}
}

// llama3Freqs applies Llama 3.1's rope scaling (factor 32, low 1, high 4,
// original 8192) to theta 500000, as Config.InvFreq does.
func llama3Freqs(headDim int) []float64 {
	f := make([]float64, headDim/2)
	lowWave, highWave := 8192.0/1, 8192.0/4
	for i := range f {
		inv := 1 / math.Pow(500000, float64(2*i)/float64(headDim))
		wave := 2 * math.Pi / inv
		switch {
		case wave < highWave:
		case wave > lowWave:
			inv /= 32
		default:
			s := (8192/wave - 1) / (4 - 1)
			inv = (1-s)*inv/32 + s*inv
		}
		f[i] = inv
	}
	return f
}

func TestDeviceRoPE(t *testing.T) {
	p := newPair(t, F32, F32)
	r := rand.New(rand.NewPCG(2, 2))
	rows := 19
	pos := make([]int32, rows)
	for i := range pos {
		pos[i] = int32(r.IntN(100000))
	}
	rope := &compute.Rope{InvFreq: llama3Freqs(tHD), MScale: 1}
	x := p.buf(randVec(r, rows*tHeads*tHD, 1))
	p.cpu.RoPE(x.c, rows, tHeads, tHD, pos, rope)
	p.gpu.RoPE(x.g, rows, tHeads, tHD, pos, rope)
	p.check("rope rotate_half", x, rows*tHeads*tHD, 1e-6, 1e-6)

	// Interleaved layout: de-interleave, rotate on the CPU, interleave back.
	v := randVec(r, rows*tKV*tHD, 1)
	g := p.gpu.Alloc(len(v))
	p.gpu.Write(g, v)
	p.gpu.RoPEInterleaved(g, rows, tKV, tHD, pos, rope)
	half := make([]float32, len(v))
	for h := 0; h < rows*tKV; h++ {
		for i := 0; i < tHD/2; i++ {
			half[h*tHD+i], half[h*tHD+i+tHD/2] = v[h*tHD+2*i], v[h*tHD+2*i+1]
		}
	}
	p.cpu.RoPE(cpu.Buffer(half), rows, tKV, tHD, pos, rope)
	got := make([]float32, len(v))
	p.gpu.Read(got, g)
	for h := 0; h < rows*tKV; h++ {
		for i := 0; i < tHD/2; i++ {
			for k, want := range []float32{half[h*tHD+i], half[h*tHD+i+tHD/2]} {
				if d := math.Abs(float64(got[h*tHD+2*i+k] - want)); d > 1e-6+1e-6*math.Abs(float64(want)) {
					t.Fatalf("rope interleaved: head row %d pair %d differs by %g", h, i, d)
				}
			}
		}
	}
}

func TestDeviceMatMul(t *testing.T) {
	for _, c := range []struct {
		wt         DType
		atol, rtol float64
	}{{F32, 1e-4, 1e-4}, {BF16, 2e-3, 2e-3}, {F16, 2e-3, 2e-3}} {
		p := newPair(t, c.wt, c.wt)
		r := rand.New(rand.NewPCG(3, uint64(c.wt)))
		for _, rows := range []int{1, 64, 300} {
			x := randVec(r, rows*tDim, 1)
			w := p.mat(randVec(r, tFFN*tDim, 0.02), tFFN, tDim)
			// The GPU rounds x to the weight type before the GEMM; so does the reference.
			xb := p.buf(x)
			xb.c = cpu.Buffer(roundTo(x, c.wt))
			out := p.zeros(rows * tFFN)
			p.cpu.MatMul(out.c, xb.c, w.c, rows)
			p.gpu.MatMul(out.g, xb.g, w.g, rows)
			p.check("matmul "+c.wt.String(), out, rows*tFFN, c.atol, c.rtol)
		}
	}
}

// TestDeviceMatMulBatchInvariant: a row's GEMM result is bitwise the same
// alone, in a batch of 64 and at row 200 of a 300-row prefill.
func TestDeviceMatMulBatchInvariant(t *testing.T) {
	for _, wt := range []DType{BF16, F32} {
		g := openDevice(t, wt, wt)
		r := rand.New(rand.NewPCG(4, 4))
		w := g.Matrix(randVec(r, tFFN*tDim, 0.02), tFFN, tDim)
		row := randVec(r, tDim, 1)
		var results [][]float32
		for _, c := range []struct{ rows, at int }{{1, 0}, {64, 17}, {300, 200}, {129, 128}} {
			x := randVec(r, c.rows*tDim, 1)
			copy(x[c.at*tDim:], row)
			xb, ob := g.Alloc(len(x)), g.Alloc(c.rows*tFFN)
			g.Write(xb, x)
			g.MatMul(ob, xb, w, c.rows)
			all := make([]float32, c.rows*tFFN)
			g.Read(all, ob)
			results = append(results, all[c.at*tFFN:(c.at+1)*tFFN])
		}
		for i := 1; i < len(results); i++ {
			if !slices.Equal(results[0], results[i]) {
				t.Fatalf("%s: the row's GEMM result depends on its batch (case %d differs)", wt, i)
			}
		}
	}
}

// attnCase is a mixed step: a 40-token prefill chunk at positions 600..639 of
// one sequence (crossing a split), decodes at 0, 5 and 1500, with GQA.
func attnCase(window int) *compute.Attention {
	a := &compute.Attention{Heads: tHeads, KVHeads: tKV, HeadDim: tHD, Scale: 0.125, Window: window}
	const bs = 16
	seqLens := []int{640, 1, 6, 1501}
	next := int32(0)
	for _, n := range seqLens {
		var tab []int32
		for range (n + bs - 1) / bs {
			tab = append(tab, next)
			next++
		}
		slices.Reverse(tab) // paging must not matter
		a.Tables = append(a.Tables, tab)
	}
	add := func(seq, pos int) {
		a.Positions = append(a.Positions, int32(pos))
		a.Seq = append(a.Seq, int32(seq))
		a.Slots = append(a.Slots, a.Tables[seq][pos/bs]*bs+int32(pos%bs))
	}
	for p := 600; p < 640; p++ {
		add(0, p)
	}
	add(1, 0)
	add(2, 5)
	add(3, 1500)
	return a
}

func TestDeviceAttention(t *testing.T) {
	for _, kv := range []DType{F32, BF16} {
		for _, window := range []int{0, 100} {
			p := newPair(t, F32, kv)
			r := rand.New(rand.NewPCG(5, uint64(window)))
			a := attnCase(window)
			const bs, blocks = 16, 200
			cc := p.cpu.NewKVCache(1, blocks, bs, tKV, tHD)
			gc := p.gpu.NewKVCache(1, blocks, bs, tKV, tHD)
			// Fill every slot of the cache with random keys and values.
			slots := make([]int32, blocks*bs)
			for i := range slots {
				slots[i] = int32(i)
			}
			k, v := randVec(r, len(slots)*tKV*tHD, 1), randVec(r, len(slots)*tKV*tHD, 1)
			kb, vb := p.buf(k), p.buf(v)
			kb.c, vb.c = cpu.Buffer(roundTo(k, kv)), cpu.Buffer(roundTo(v, kv))
			p.cpu.StoreKV(cc, 0, kb.c, vb.c, slots)
			p.gpu.StoreKV(gc, 0, kb.g, vb.g, slots)
			n := len(a.Positions)
			q := p.buf(randVec(r, n*tHeads*tHD, 1))
			out := p.zeros(n * tHeads * tHD)
			p.cpu.Attend(out.c, q.c, cc, 0, a)
			p.gpu.Attend(out.g, q.g, gc, 0, a)
			p.check("attention kv="+kv.String(), out, n*tHeads*tHD, 1e-5, 1e-4)

			// Each token alone (decode path) gives bitwise the same as in the mixed step.
			all := make([]float32, n*tHeads*tHD)
			p.gpu.Read(all, out.g)
			hostQ := make([]float32, n*tHeads*tHD)
			p.gpu.Read(hostQ, q.g)
			w := tHeads * tHD
			for _, i := range []int{0, 39, 40, 43} {
				one := &compute.Attention{Positions: a.Positions[i : i+1], Seq: []int32{0}, Slots: a.Slots[i : i+1],
					Tables: [][]int32{a.Tables[a.Seq[i]]}, Window: window, Heads: tHeads, KVHeads: tKV, HeadDim: tHD, Scale: a.Scale}
				q1, o1 := p.gpu.Alloc(w), p.gpu.Alloc(w)
				p.gpu.Write(q1, hostQ[i*w:(i+1)*w])
				p.gpu.Attend(o1, q1, gc, 0, one)
				got := make([]float32, w)
				p.gpu.Read(got, o1)
				if !slices.Equal(got, all[i*w:(i+1)*w]) {
					t.Fatalf("kv %s window %d: token %d alone differs from the token in the mixed step", kv, window, i)
				}
			}
		}
	}
}

func TestDeviceLoRA(t *testing.T) {
	for _, wt := range []DType{F32, BF16} {
		p := newPair(t, wt, wt)
		r := rand.New(rand.NewPCG(6, 6))
		in, outDim, rows := tDim, 1024, 40
		ranks := []int{16, 8, 64, 1}
		var cs, gs []compute.LoRASegment
		bounds := [][2]int{{0, 16}, {16, 32}, {33, 34}, {34, 35}, {36, 37}, {39, 40}}
		for i, bd := range bounds {
			rk := ranks[i%len(ranks)]
			a, bm := p.mat(randVec(r, rk*in, 0.05), rk, in), p.mat(randVec(r, outDim*rk, 0.05), outDim, rk)
			scale := float32(i+1) / 4
			cs = append(cs, compute.LoRASegment{Start: bd[0], End: bd[1], A: a.c, B: bm.c, Scale: scale})
			gs = append(gs, compute.LoRASegment{Start: bd[0], End: bd[1], A: a.g, B: bm.g, Scale: scale})
		}
		x := p.buf(randVec(r, rows*in, 1))
		out := p.buf(randVec(r, rows*outDim, 1))
		scratch := p.zeros(rows * (64 + outDim))
		p.cpu.AddLoRA(out.c, x.c, rows, cs, scratch.c)
		p.gpu.AddLoRA(out.g, x.g, rows, gs, scratch.g)
		p.check("lora "+wt.String(), out, rows*outDim, 1e-4, 1e-4)
	}
}
