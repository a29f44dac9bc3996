//go:build goexperiment.simd && amd64

package kernel

import (
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/graft-ai/graft/engine/gguf"
)

// BenchmarkDecodeStepQ4KM is BenchmarkDecodeStepQ8 on the tensor types of
// llama.cpp's Q4_K_M 110M file: Q4_K everywhere but attn_v and ffn_down of
// layers 0, 3, 6, 9, 10 and 11, and the (tied) output layer, Q6_K. Besides
// tok/s and bound_pct it reports each kind of matmul's read speed (qkv and
// gu: the fused projections) as a percentage of the read pass's, so that a
// slow one shows.
//
// The step runs five times, alternating, on weights in 4 KiB pages (base:
// a file cached in small folios) and in 2 MiB pages (huge: what
// mapped.Open's MADV_HUGEPAGE gets on a file read in cold), each with the
// Q4_K and Q6_K matrices as stored and packed (packedbase, packed), and
// in 2 MiB pages with only Q4_K packed (packedq4k), so that other load on
// the host falls on all alike. The read pass stays on the Go heap
// (4 KiB pages here), below graft bench engine's, which asks for 2 MiB
// pages as the weights do: the huge step's bound_pct reads high.
func BenchmarkDecodeStepQ4KM(b *testing.B) {
	q4, q6 := gguf.TypeQ4_K, gguf.TypeQ6_K
	vs := []struct {
		name string
		huge bool
		pack []gguf.Type
	}{{"base", false, nil}, {"huge", true, nil}, {"packedbase", false, []gguf.Type{q4, q6}},
		{"packedq4k", true, []gguf.Type{q4}}, {"packed", true, []gguf.Type{q4, q6}}}
	p := benchPool(b)
	var steps []*q4kmStep
	for _, v := range vs {
		steps = append(steps, newQ4KMStep(p, *stepRows, v.huge, v.pack))
	}
	read := steps[0].read
	tRead := make([]time.Duration, len(vs))
	for b.Loop() {
		for i := range vs {
			steps[i].step()
			s := time.Now()
			read.run()
			tRead[i] += time.Since(s)
		}
	}
	for i, v := range vs {
		s := steps[i]
		var t time.Duration
		for _, d := range s.tk {
			t += d
		}
		b.ReportMetric(float64(s.rows*b.N)/t.Seconds(), v.name+"_tok/s")
		b.ReportMetric(100*tRead[i].Seconds()/t.Seconds(), v.name+"_bound_pct")
		for k, n := range kindNames {
			b.ReportMetric(100*float64(s.kb[k])/s.tk[k].Seconds()/(float64(len(s.read.buf))/tRead[i].Seconds()), v.name+"_"+n+"_pct")
		}
	}
}

const (
	kQKV = iota
	kO
	kGU
	kDown
	kOut
	kinds
)

var kindNames = [kinds]string{"qkv", "o", "gu", "down", "out"}

type q4kmMat struct {
	w      []byte
	t      gguf.Type
	packed bool
}

// q4kmStep is a 110M Q4_K_M decode step's matmuls, with the time and bytes
// of each kind.
type q4kmStep struct {
	p    *Pool
	rows int
	ls   []struct{ q, k, v, o, g, u, d q4kmMat }
	out  q4kmMat
	kb   [kinds]int
	tk   [kinds]time.Duration
	read *readPass
	acts [8][]float32
}

func newQ4KMStep(p *Pool, R int, huge bool, pack []gguf.Type) *q4kmStep {
	rng := rand.New(rand.NewPCG(3, 3))
	const dim, ffn, vocab, layers = 768, 2048, 32000, 12
	q4, q6 := gguf.TypeQ4_K, gguf.TypeQ6_K
	arena := newArena(80<<20, huge)
	m := func(t gguf.Type, rows, in int) q4kmMat {
		w := randomQ(rng, t, rows, in)
		if slices.Contains(pack, t) && CanPack(t, rows, in) {
			pw := make([]byte, PackedBytes(t, rows, in))
			Pack(t, pw, w, rows, in)
			return q4kmMat{arena.copy(pw), t, true}
		}
		return q4kmMat{arena.copy(w), t, false}
	}
	s := &q4kmStep{p: p, rows: R}
	for i := range layers {
		vt := q4
		if i%3 == 0 || i >= 10 {
			vt = q6
		}
		l := struct{ q, k, v, o, g, u, d q4kmMat }{m(q4, dim, dim), m(q4, dim, dim), m(vt, dim, dim), m(q4, dim, dim), m(q4, ffn, dim), m(q4, ffn, dim), m(vt, dim, ffn)}
		s.ls = append(s.ls, l)
		s.kb[kQKV] += len(l.q.w) + len(l.k.w) + len(l.v.w)
		s.kb[kO] += len(l.o.w)
		s.kb[kGU] += len(l.g.w) + len(l.u.w)
		s.kb[kDown] += len(l.d.w)
	}
	s.out = m(q6, vocab, dim)
	s.kb[kOut] = len(s.out.w)
	bytes := 0
	for _, n := range s.kb {
		bytes += n
	}
	s.read = newReadPass(p, bytes)
	for i, n := range []int{ffn, dim, dim, dim, dim, ffn, ffn, dim} {
		s.acts[i] = randVec(rng, R*n)
	}
	s.acts[7] = make([]float32, R*vocab)
	return s
}

func (s *q4kmStep) step() {
	const dim, ffn, vocab = 768, 2048, 32000
	p, R := s.p, s.rows
	x, q, k, v, o, g, u, logits := s.acts[0], s.acts[1], s.acts[2], s.acts[3], s.acts[4], s.acts[5], s.acts[6], s.acts[7]
	xd := x[:R*dim]
	one := func(out, x []float32, w q4kmMat, in, outDim int) {
		if w.packed {
			MatMulPacked(p, out, x, w.w, w.t, R, in, outDim)
			return
		}
		MatMulQ8(p, out, x, w.w, w.t, R, in, outDim)
	}
	for _, l := range s.ls {
		t := time.Now()
		if !MatMulQ8Many(p, xd, R, dim, []QProj{{Out: q, W: l.q.w, T: l.q.t, OutDim: dim, Packed: l.q.packed}, {Out: k, W: l.k.w, T: l.k.t, OutDim: dim, Packed: l.k.packed}, {Out: v, W: l.v.w, T: l.v.t, OutDim: dim, Packed: l.v.packed}}) {
			one(q, xd, l.q, dim, dim)
			one(k, xd, l.k, dim, dim)
			one(v, xd, l.v, dim, dim)
		}
		t = s.lap(kQKV, t)
		one(o, xd, l.o, dim, dim)
		t = s.lap(kO, t)
		if !MatMulQ8Many(p, xd, R, dim, []QProj{{Out: g, W: l.g.w, T: l.g.t, OutDim: ffn, Packed: l.g.packed}, {Out: u, W: l.u.w, T: l.u.t, OutDim: ffn, Packed: l.u.packed}}) {
			one(g, xd, l.g, dim, ffn)
			one(u, xd, l.u, dim, ffn)
		}
		t = s.lap(kGU, t)
		one(o, x, l.d, ffn, dim)
		s.lap(kDown, t)
	}
	t := time.Now()
	one(logits, xd, s.out, dim, vocab)
	s.lap(kOut, t)
}

func (s *q4kmStep) lap(kind int, t time.Time) time.Time {
	n := time.Now()
	s.tk[kind] += n.Sub(t)
	return n
}

// arena hands out 64-byte aligned slices of one anonymous mapping, with
// transparent huge pages asked for or refused.
type arena struct {
	buf []byte
	off int
}

func newArena(size int, huge bool) *arena {
	size = (size + 4<<20) &^ (2<<20 - 1)
	b, err := syscall.Mmap(-1, 0, size+2<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		panic(err)
	}
	off := int(-uintptr(unsafe.Pointer(&b[0])) & (2<<20 - 1))
	b = b[off : off+size]
	adv := syscall.MADV_NOHUGEPAGE
	if huge {
		adv = syscall.MADV_HUGEPAGE
	}
	if err := syscall.Madvise(b, adv); err != nil {
		panic(err)
	}
	return &arena{buf: b}
}

func (a *arena) copy(w []byte) []byte {
	d := a.buf[a.off : a.off+len(w)]
	copy(d, w)
	a.off += (len(w) + 63) &^ 63
	return d
}
