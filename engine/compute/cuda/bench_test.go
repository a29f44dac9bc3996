package cuda

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/graft-ai/graft/engine/compute"
)

// benchShape is a Llama shape for the device benchmark.
type benchShape struct {
	name                               string
	dim, layers, heads, kv, ffn, vocab int
}

var benchShapes = []benchShape{
	{"Llama-3.2-1B", 2048, 16, 32, 8, 8192, 128256},
	{"Llama-3-8B", 4096, 32, 32, 8, 14336, 128256},
}

// benchModel is a random BF16 Llama on the device (weights from fill_hash),
// stepped with the same backend calls in the same order as model.Forward.
type benchModel struct {
	s                  benchShape
	b                  *Backend
	embed, norm, out   compute.Matrix
	layers             []benchLayer
	adapters           [][][7][2]compute.Matrix // [adapter][layer][module]{A, B}
	x, xn, q, k, v, at compute.Buffer
	o, gate, up        compute.Buffer
	sel, logits, lsc   compute.Buffer
	host               []float32
	rope               compute.Rope
}

type benchLayer struct{ an, fn, q, k, v, o, gate, up, down compute.Matrix }

func newBenchModel(b *Backend, s benchShape, maxTokens, maxOut, adapters int) *benchModel {
	hd := s.dim / s.heads
	seed := uint32(1)
	rnd := func(r, c int, std float32) compute.Matrix { seed++; return b.RandomMatrix(r, c, seed, std) }
	ones := func(n int) compute.Matrix { return b.RandomMatrix(1, n, 0, 0.01) }
	m := &benchModel{s: s, b: b, embed: rnd(s.vocab, s.dim, 0.02), norm: ones(s.dim)}
	m.out = rnd(s.vocab, s.dim, 0.02)
	q, kv := s.heads*hd, s.kv*hd
	for range s.layers {
		m.layers = append(m.layers, benchLayer{an: ones(s.dim), fn: ones(s.dim),
			q: rnd(q, s.dim, 0.02), k: rnd(kv, s.dim, 0.02), v: rnd(kv, s.dim, 0.02), o: rnd(s.dim, q, 0.02),
			gate: rnd(s.ffn, s.dim, 0.02), up: rnd(s.ffn, s.dim, 0.02), down: rnd(s.dim, s.ffn, 0.02)})
	}
	shapes := [7][2]int{{q, s.dim}, {kv, s.dim}, {kv, s.dim}, {s.dim, q}, {s.ffn, s.dim}, {s.ffn, s.dim}, {s.dim, s.ffn}}
	for range adapters {
		var per [][7][2]compute.Matrix
		for range s.layers {
			var l [7][2]compute.Matrix
			for i, sh := range shapes {
				l[i] = [2]compute.Matrix{rnd(16, sh[1], 0.02), rnd(sh[0], 16, 0.02)}
			}
			per = append(per, l)
		}
		m.adapters = append(m.adapters, per)
	}
	a := b.Alloc
	m.x, m.xn, m.q, m.k, m.v = a(maxTokens*s.dim), a(maxTokens*s.dim), a(maxTokens*q), a(maxTokens*kv), a(maxTokens*kv)
	m.at, m.o, m.gate, m.up = a(maxTokens*q), a(maxTokens*s.dim), a(maxTokens*s.ffn), a(maxTokens*s.ffn)
	m.sel, m.logits, m.lsc = a(maxOut*s.dim), a(maxOut*s.vocab), a(maxTokens*(16+s.ffn))
	m.host = make([]float32, maxOut*s.vocab)
	m.rope.MScale = 1
	for i := range hd / 2 {
		m.rope.InvFreq = append(m.rope.InvFreq, 1/math.Pow(500000, float64(2*i)/float64(hd)))
	}
	return m
}

// step is one forward pass; adapter[i] is token i's adapter (-1: base).
func (m *benchModel) step(cache compute.KVCache, tokens []int32, a *compute.Attention, adapter []int, outputs []int32) {
	b, s, n := m.b, m.s, len(tokens)
	hd := s.dim / s.heads
	a.Heads, a.KVHeads, a.HeadDim, a.Scale = s.heads, s.kv, hd, float32(1/math.Sqrt(float64(hd)))
	lin := func(out, x compute.Buffer, w compute.Matrix, layer, mod int) {
		b.MatMul(out, x, w, n)
		var segs []compute.LoRASegment
		for i, ad := range adapter {
			if ad >= 0 {
				p := m.adapters[ad][layer][mod]
				segs = append(segs, compute.LoRASegment{Start: i, End: i + 1, A: p[0], B: p[1], Scale: 2})
			}
		}
		b.AddLoRA(out, x, n, segs, m.lsc)
	}
	b.Embed(m.x, m.embed, tokens)
	for i, l := range m.layers {
		b.RMSNorm(m.xn, m.x, l.an, n, 1e-5)
		lin(m.q, m.xn, l.q, i, 0)
		lin(m.k, m.xn, l.k, i, 1)
		lin(m.v, m.xn, l.v, i, 2)
		b.RoPE(m.q, n, s.heads, hd, a.Positions, &m.rope)
		b.RoPE(m.k, n, s.kv, hd, a.Positions, &m.rope)
		b.StoreKV(cache, i, m.k, m.v, a.Slots)
		b.Attend(m.at, m.q, cache, i, a)
		lin(m.o, m.at, l.o, i, 3)
		b.Add(m.x, m.x, m.o, n*s.dim)
		b.RMSNorm(m.xn, m.x, l.fn, n, 1e-5)
		lin(m.gate, m.xn, l.gate, i, 4)
		lin(m.up, m.xn, l.up, i, 5)
		b.SiLUMul(m.gate, m.gate, m.up, n*s.ffn)
		lin(m.o, m.gate, l.down, i, 6)
		b.Add(m.x, m.x, m.o, n*s.dim)
	}
	b.Gather(m.sel, m.x, outputs, s.dim)
	b.RMSNorm(m.sel, m.sel, m.norm, len(outputs), 1e-5)
	b.MatMul(m.logits, m.sel, m.out, len(outputs))
	b.Read(m.host[:len(outputs)*s.vocab], m.logits)
}

func (m *benchModel) weightBytes() float64 {
	s := m.s
	hd := s.dim / s.heads
	per := s.dim*(s.heads*hd) + 2*s.dim*(s.kv*hd) + (s.heads*hd)*s.dim + 3*s.dim*s.ffn
	return 2 * float64(s.layers*per+2*s.vocab*s.dim)
}

// TestDeviceBenchmark prints decode tok/s at batch 1, 32 and 64 and prefill
// tok/s for random BF16 Llamas of the 1B and 8B shapes with 0, 8 and 64
// distinct rank-16 adapters, beside the HBM bound (weights read once per
// decode step). It reports; it asserts nothing about speed.
func TestDeviceBenchmark(t *testing.T) {
	if os.Getenv("GRAFT_CUDA_BENCH") != "1" {
		t.Skip("set GRAFT_CUDA_BENCH=1 (and GRAFT_CUDA=1) on a GPU machine")
	}
	b := openDevice(t, BF16, BF16)
	info := b.Info()
	fmt.Printf("device %s (sm_%d%d, %d SMs, %.0f GB), peak HBM %.0f GB/s, cuBLAS %d\n", info.Name, info.Major, info.Minor, info.SMs, float64(info.TotalMemory)/1e9, info.BandwidthBytesPS/1e9, info.CublasVersion)
	fmt.Printf("%-13s %-9s %-8s %10s %12s %12s\n", "model", "adapters", "phase", "batch", "tok/s", "bound tok/s")
	const ctx, prefill = 512, 512
	for _, s := range benchShapes {
		for _, na := range []int{0, 8, 64} {
			m := newBenchModel(b, s, prefill, 64, na)
			cache := b.NewKVCache(s.layers, 64*ctx/16+1, 16, s.kv, s.dim/s.heads)
			for _, batch := range []int{1, 32, 64} {
				tokens, a, ad, outs := decodeBatch(batch, ctx, na)
				m.step(cache, tokens, a, ad, outs) // warm-up
				const steps = 10
				start := time.Now()
				for range steps {
					m.step(cache, tokens, a, ad, outs)
				}
				tps := float64(steps*batch) / time.Since(start).Seconds()
				bound := info.BandwidthBytesPS / m.weightBytes() * float64(batch)
				fmt.Printf("%-13s %-9d %-8s %10d %12.0f %12.0f\n", s.name, na, "decode", batch, tps, bound)
			}
			tokens, a, ad, outs := prefillBatch(prefill, na)
			m.step(cache, tokens, a, ad, outs)
			start := time.Now()
			for range 3 {
				m.step(cache, tokens, a, ad, outs)
			}
			tps := float64(3*prefill) / time.Since(start).Seconds()
			fmt.Printf("%-13s %-9d %-8s %10d %12.0f %12s\n", s.name, na, "prefill", prefill, tps, "-")
			b.Free(cache)
			runtime.GC() // the next model reuses this one's blocks once their cleanups ran
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// decodeBatch is batch sequences each decoding at position ctx-1 with its own
// block table, adapters assigned round-robin (all distinct up to na).
func decodeBatch(batch, ctx, na int) ([]int32, *compute.Attention, []int, []int32) {
	a := &compute.Attention{}
	var tokens, outs []int32
	var ad []int
	per := ctx / 16
	for i := range batch {
		tab := make([]int32, per)
		for j := range tab {
			tab[j] = int32(i*per + j)
		}
		a.Tables = append(a.Tables, tab)
		a.Positions = append(a.Positions, int32(ctx-1))
		a.Seq = append(a.Seq, int32(i))
		a.Slots = append(a.Slots, tab[per-1]*16+15)
		tokens = append(tokens, int32(1000+i))
		outs = append(outs, int32(i))
		ad = append(ad, adapterOf(i, na))
	}
	return tokens, a, ad, outs
}

func prefillBatch(n, na int) ([]int32, *compute.Attention, []int, []int32) {
	a := &compute.Attention{}
	tab := make([]int32, n/16)
	for j := range tab {
		tab[j] = int32(j)
	}
	a.Tables = [][]int32{tab}
	var tokens []int32
	var ad []int
	for p := range n {
		a.Positions = append(a.Positions, int32(p))
		a.Seq = append(a.Seq, 0)
		a.Slots = append(a.Slots, int32(p))
		tokens = append(tokens, int32(p+5))
		ad = append(ad, adapterOf(0, na))
	}
	return tokens, a, ad, []int32{int32(n - 1)}
}

func adapterOf(i, na int) int {
	if na == 0 {
		return -1
	}
	return i % na
}
