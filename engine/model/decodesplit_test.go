package model

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/compute/cpu"
	"github.com/graft-ai/graft/engine/gguf"
)

// timedBackend times each backend call of a forward pass by kind and
// shape; the calls run one after another on the caller, so their wall
// times split a step.
type timedBackend struct {
	compute.Backend
	t map[string]time.Duration
	n map[string]int
}

func (b *timedBackend) add(k string, s time.Time) { b.t[k] += time.Since(s); b.n[k]++ }

func matName(w compute.Matrix) string {
	return fmt.Sprintf("%dx%d %s", w.Rows(), w.Cols(), w.(*cpu.Matrix).Stored())
}

func (b *timedBackend) MatMul(out, x compute.Buffer, w compute.Matrix, rows int) {
	s := time.Now()
	b.Backend.MatMul(out, x, w, rows)
	b.add("matmul "+matName(w), s)
}

func (b *timedBackend) MatMulMany(outs []compute.Buffer, x compute.Buffer, ws []compute.Matrix, rows int) bool {
	s := time.Now()
	ok := b.Backend.(manyMatMuler).MatMulMany(outs, x, ws, rows)
	if ok {
		b.add(fmt.Sprintf("fused%d %s", len(ws), matName(ws[0])), s)
	}
	return ok
}

func (b *timedBackend) RMSNorm(out, x compute.Buffer, w compute.Matrix, rows int, eps float32) {
	s := time.Now()
	b.Backend.RMSNorm(out, x, w, rows, eps)
	b.add("rmsnorm", s)
}

func (b *timedBackend) RoPE(x compute.Buffer, rows, heads, headDim int, positions []int32, r *compute.Rope) {
	s := time.Now()
	b.Backend.RoPE(x, rows, heads, headDim, positions, r)
	b.add("rope", s)
}

func (b *timedBackend) StoreKV(c compute.KVCache, layer int, k, v compute.Buffer, slots []int32) {
	s := time.Now()
	b.Backend.StoreKV(c, layer, k, v, slots)
	b.add("storekv", s)
}

func (b *timedBackend) Attend(out, q compute.Buffer, c compute.KVCache, layer int, a *compute.Attention) {
	s := time.Now()
	b.Backend.Attend(out, q, c, layer, a)
	b.add("attend", s)
}

func (b *timedBackend) SiLUMul(out, gate, up compute.Buffer, n int) {
	s := time.Now()
	b.Backend.SiLUMul(out, gate, up, n)
	b.add("silumul", s)
}

func (b *timedBackend) Add(out, a, c compute.Buffer, n int) {
	s := time.Now()
	b.Backend.Add(out, a, c, n)
	b.add("add", s)
}

// TestDecodeSplit is a measuring tool, not a check: for each GGUF file in
// GRAFT_DECODE_SPLIT (comma-separated) it decodes one stream on 2 threads
// in int8 mode at positions 24-87 (those of graft bench engine's dec1) and
// prints the step time and its split by backend call. Run it with -v.
func TestDecodeSplit(t *testing.T) {
	paths := os.Getenv("GRAFT_DECODE_SPLIT")
	if paths == "" {
		t.Skip("GRAFT_DECODE_SPLIT (GGUF paths) unset")
	}
	for _, path := range strings.Split(paths, ",") {
		decodeSplit(t, path)
	}
}

func decodeSplit(t *testing.T, path string) {
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	be := cpu.New(2)
	defer be.Close()
	if err := be.SetQuantActivations("int8"); err != nil {
		t.Fatal(err)
	}
	m, err := LoadGGUF(f, be)
	if err != nil {
		t.Fatal(err)
	}
	cache := m.NewKVCache(8, 16)
	ws := m.NewWorkspace(1, 1, 0)
	bt := &Batch{Tokens: []int32{1}, Outputs: []int32{0}, Attn: compute.Attention{Seq: []int32{0}}}
	bt.Attn.Tables = [][]int32{{0, 1, 2, 3, 4, 5, 6, 7}}
	pos := int32(24)
	step := func() {
		bt.Attn.Positions = append(bt.Attn.Positions[:0], pos)
		bt.Attn.Slots = append(bt.Attn.Slots[:0], pos)
		bt.Tokens[0] = (pos*7 + 3) % int32(m.Config.Vocab)
		if _, err := m.Forward(ws, cache, bt); err != nil {
			t.Fatal(err)
		}
		if pos++; pos == 88 {
			pos = 24
		}
	}
	const n = 256
	for range 16 {
		step()
	}
	s := time.Now()
	for range n {
		step()
	}
	plain := time.Since(s) / n
	tb := &timedBackend{Backend: m.b, t: map[string]time.Duration{}, n: map[string]int{}}
	m.b = tb
	s = time.Now()
	for range n {
		step()
	}
	timed := time.Since(s)
	m.b = be
	var keys []string
	for k := range tb.t {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return tb.t[keys[i]] > tb.t[keys[j]] })
	t.Logf("%s: %v a step (%.1f tok/s) untimed, %v timed", path, plain, 1/plain.Seconds(), timed/n)
	for _, k := range keys {
		t.Logf("  %-26s %7.1f µs/tok %5.1f%% %7.2f µs/call", k, float64(tb.t[k].Nanoseconds())/n/1e3,
			100*float64(tb.t[k])/float64(timed), float64(tb.t[k].Nanoseconds())/float64(tb.n[k])/1e3)
	}
}
