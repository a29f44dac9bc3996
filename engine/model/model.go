package model

import (
	"fmt"
	"math"

	"github.com/graft-ai/graft/engine/compute"
)

// Linear is one projection. Every projection of the forward pass goes through
// Model.linear, the one place where a per-token LoRA delta is added.
type Linear struct {
	Module int // ModQ ... ModDown
	W      compute.Matrix
	Bias   compute.Matrix // nil when the architecture has none
	// InterleavedHeads, when not 0, is how many heads of headDim rows W
	// holds in the interleaved-pair RoPE order GGUF files store q and k in;
	// the output is reordered to rotate_half right after the base matmul.
	InterleavedHeads int
}

// Layer is one transformer block.
type Layer struct {
	AttnNorm, FFNNorm          compute.Matrix
	Q, K, V, O, Gate, Up, Down *Linear
}

// Model is a loaded Llama-family model bound to a backend.
type Model struct {
	Config Config
	Embed  compute.Matrix
	Norm   compute.Matrix
	Output compute.Matrix // == Embed when tied
	Layers []*Layer
	b      compute.Backend
	rope   compute.Rope
}

// Backend returns the backend the weights live on.
func (m *Model) Backend() compute.Backend { return m.b }

// Batch is one forward step: a flat list of tokens from many sequences.
type Batch struct {
	Tokens []int32
	Attn   compute.Attention // positions, sequences, cache slots, block tables
	// Outputs lists the token indices whose logits are wanted, in order.
	Outputs []int32
	// Adapters holds each token's adapter slot in Slots, -1 for the base
	// model; nil means no token uses an adapter.
	Adapters []int32
	Slots    *AdapterSlots
}

// Workspace holds the activation buffers of one forward step, sized once for the
// largest batch so that steps do not allocate.
type Workspace struct {
	maxTokens              int
	x, xn, q, k, v, att, o compute.Buffer
	gate, up               compute.Buffer
	sel, selNorm, logits   compute.Buffer
	// hostLogits is logits on a backend whose buffers are host memory,
	// else a copy Forward reads them into.
	hostLogits []float32
	hostView   bool
	// loraScratch is allocated by the first step with adapters (of rank up
	// to maxRank): a workspace that never serves one does not hold it.
	loraScratch compute.Buffer
	maxRank     int
	segs        []compute.LoRASegment
	runs        []loraRun
	attn        compute.Attention
	// project's arguments, kept here so that passing them allocates nothing.
	projOut [3]compute.Buffer
	projLin [3]*Linear
	projW   [3]compute.Matrix
}

// NewWorkspace allocates buffers for steps of up to maxTokens tokens and
// maxOutputs logit rows, with adapters of rank up to maxRank (0: no adapters).
func (m *Model) NewWorkspace(maxTokens, maxOutputs, maxRank int) *Workspace {
	c, b := &m.Config, m.b
	q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	ws := &Workspace{
		maxTokens: maxTokens,
		x:         b.Alloc(maxTokens * c.Dim), xn: b.Alloc(maxTokens * c.Dim),
		q: b.Alloc(maxTokens * q), k: b.Alloc(maxTokens * kv), v: b.Alloc(maxTokens * kv),
		att: b.Alloc(maxTokens * q), o: b.Alloc(maxTokens * c.Dim),
		gate: b.Alloc(maxTokens * c.FFN), up: b.Alloc(maxTokens * c.FFN),
		sel: b.Alloc(maxOutputs * c.Dim), selNorm: b.Alloc(maxOutputs * c.Dim),
		logits:  b.Alloc(maxOutputs * c.Vocab),
		maxRank: maxRank,
	}
	if h, ok := b.(hostBuffers); ok {
		ws.hostLogits, ws.hostView = h.Host(ws.logits), true
	} else {
		ws.hostLogits = make([]float32, maxOutputs*c.Vocab)
	}
	return ws
}

// hostBuffers is a backend whose buffers are host memory (the CPU's): the
// logits need no copy there.
type hostBuffers interface {
	Host(compute.Buffer) []float32
}

// CopyKVBlock copies block src of cache to block dst, in every layer.
func (m *Model) CopyKVBlock(cache compute.KVCache, src, dst int32) {
	m.b.CopyKVBlock(cache, src, dst)
}

// NewKVCache allocates a paged cache of blocks x blockSize token slots.
func (m *Model) NewKVCache(blocks, blockSize int) compute.KVCache {
	c := &m.Config
	return m.b.NewKVCache(c.Layers, blocks, blockSize, c.KVHeads, c.HeadDim)
}

// Forward runs one step and returns the logits of batch.Outputs, one row of
// Vocab floats each. The slice belongs to ws and is overwritten by the next step.
func (m *Model) Forward(ws *Workspace, cache compute.KVCache, batch *Batch) ([]float32, error) {
	n, c, b := len(batch.Tokens), &m.Config, m.b
	if n == 0 || n > ws.maxTokens || len(batch.Outputs)*c.Vocab > len(ws.hostLogits) {
		return nil, fmt.Errorf("forward: %d tokens / %d outputs exceed the workspace", n, len(batch.Outputs))
	}
	for _, t := range batch.Tokens {
		if t < 0 || int(t) >= c.Vocab {
			return nil, fmt.Errorf("forward: token id %d outside the vocabulary of %d", t, c.Vocab)
		}
	}
	a := &ws.attn // in the workspace: backends keep the pointer while they run
	*a = batch.Attn
	a.Heads, a.KVHeads, a.HeadDim = c.Heads, c.KVHeads, c.HeadDim
	a.Scale = float32(1 / math.Sqrt(float64(c.HeadDim)))
	if batch.Adapters != nil {
		loraRuns(ws, batch.Adapters[:n])
	}
	b.Embed(ws.x, m.Embed, batch.Tokens)
	for i, ly := range m.Layers {
		a.Window = 0
		if i >= c.WindowFrom {
			a.Window = c.SlidingWindow
		}
		m.attention(ws, cache, i, ly, a, batch)
		m.feedForward(ws, i, ly, batch, n)
	}
	outs := len(batch.Outputs)
	b.Gather(ws.sel, ws.x, batch.Outputs, c.Dim)
	b.RMSNorm(ws.selNorm, ws.sel, m.Norm, outs, c.NormEps)
	b.MatMul(ws.logits, ws.selNorm, m.Output, outs)
	logits := ws.hostLogits[:outs*c.Vocab]
	if !ws.hostView {
		b.Read(logits, ws.logits)
	}
	return logits, nil
}

func (m *Model) attention(ws *Workspace, cache compute.KVCache, layer int, ly *Layer, a *compute.Attention, batch *Batch) {
	c, b, n := &m.Config, m.b, len(a.Positions)
	lin := func(out, x compute.Buffer, l *Linear) { m.linear(ws, out, x, l, n, layer, batch) }
	b.RMSNorm(ws.xn, ws.x, ly.AttnNorm, n, c.NormEps)
	ws.projOut, ws.projLin = [3]compute.Buffer{ws.q, ws.k, ws.v}, [3]*Linear{ly.Q, ly.K, ly.V}
	m.project(ws, ws.xn, ws.projOut[:], ws.projLin[:], n, layer, batch)
	b.RoPE(ws.q, n, c.Heads, c.HeadDim, a.Positions, &m.rope)
	b.RoPE(ws.k, n, c.KVHeads, c.HeadDim, a.Positions, &m.rope)
	b.StoreKV(cache, layer, ws.k, ws.v, a.Slots)
	b.Attend(ws.att, ws.q, cache, layer, a)
	lin(ws.o, ws.att, ly.O)
	b.Add(ws.x, ws.x, ws.o, n*c.Dim)
}

func (m *Model) feedForward(ws *Workspace, layer int, ly *Layer, batch *Batch, n int) {
	c, b := &m.Config, m.b
	lin := func(out, x compute.Buffer, l *Linear) { m.linear(ws, out, x, l, n, layer, batch) }
	b.RMSNorm(ws.xn, ws.x, ly.FFNNorm, n, c.NormEps)
	ws.projOut, ws.projLin = [3]compute.Buffer{ws.gate, ws.up}, [3]*Linear{ly.Gate, ly.Up}
	m.project(ws, ws.xn, ws.projOut[:2], ws.projLin[:2], n, layer, batch)
	b.SiLUMul(ws.gate, ws.gate, ws.up, n*c.FFN)
	lin(ws.o, ws.gate, ly.Down)
	b.Add(ws.x, ws.x, ws.o, n*c.Dim)
}

// linear is every projection: the base weights and bias for all rows, then each
// adapter's delta scale·B(Ax) for its rows, grouped by adapter.
func (m *Model) linear(ws *Workspace, out, x compute.Buffer, l *Linear, n, layer int, batch *Batch) {
	m.b.MatMul(out, x, l.W, n)
	m.reorder(out, l, n)
	m.delta(ws, out, x, l, n, layer, batch)
}

// headPermuter is a backend that reorders a projection's output from the
// interleaved-pair order of GGUF's q and k rows to rotate_half in place.
// The loader keeps such weights as the file holds them only on backends
// that have it: a permuted copy would cost the memory of every q and k
// matrix (7.7 MiB for the 110M model in Q4_0, 56 MiB in F32) where this
// costs a copy of each step's q and k activations.
type headPermuter interface {
	Deinterleave(x compute.Buffer, rows, heads, headDim int)
}

// reorder puts the base output of l in rotate_half order, before its bias
// and adapter deltas, which are in that order.
func (m *Model) reorder(out compute.Buffer, l *Linear, n int) {
	if l.InterleavedHeads > 0 {
		m.b.(headPermuter).Deinterleave(out, n, l.InterleavedHeads, m.Config.HeadDim)
	}
}

// manyMatMuler is a backend that can run several projections of one input
// in one parallel pass (the CPU backend, for quantized weights): decode's
// matmuls are small, and each separate one pays a fork and join of all
// threads.
type manyMatMuler interface {
	// MatMulMany computes outs[i] = x·ws[i]ᵀ for rows rows with the bits of
	// MatMul each; false means it computed nothing.
	MatMulMany(outs []compute.Buffer, x compute.Buffer, ws []compute.Matrix, rows int) bool
}

// project is linear for several projections of one input (Q, K and V; gate
// and up): the base matmuls in one pass where the backend can, then each
// projection's bias and adapter deltas.
func (m *Model) project(ws *Workspace, x compute.Buffer, outs []compute.Buffer, ls []*Linear, n, layer int, batch *Batch) {
	for i, l := range ls {
		ws.projW[i] = l.W
	}
	mm, ok := m.b.(manyMatMuler)
	if !ok || !mm.MatMulMany(outs, x, ws.projW[:len(ls)], n) {
		for i, l := range ls {
			m.b.MatMul(outs[i], x, l.W, n)
		}
	}
	for i, l := range ls {
		m.reorder(outs[i], l, n)
		m.delta(ws, outs[i], x, l, n, layer, batch)
	}
}

// delta adds a projection's bias and its adapters' deltas to out.
func (m *Model) delta(ws *Workspace, out, x compute.Buffer, l *Linear, n, layer int, batch *Batch) {
	if l.Bias != nil {
		m.b.AddBias(out, l.Bias, n)
	}
	if batch.Adapters == nil || batch.Slots == nil || ws.maxRank == 0 {
		return
	}
	if ws.loraScratch == nil {
		c := &m.Config
		ws.loraScratch = m.b.Alloc(ws.maxTokens * (ws.maxRank + max(c.FFN, c.Dim, c.Heads*c.HeadDim)))
	}
	if segs := batch.Slots.segments(ws, layer, l.Module); len(segs) > 0 {
		m.b.AddLoRA(out, x, n, segs, ws.loraScratch)
	}
}
