package model

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/gguf"
)

// Tensors is where weights come from: a GGUF file or a safetensors model, both
// decoding to float32 with a row-major shape (outermost dimension first).
type Tensors interface {
	Float32(name string) ([]float32, []int, error)
	Has(name string) bool
}

// names maps a weight role to its tensor name in one file format.
type names struct {
	embed, norm, output string
	layer               func(i int, role string) string
	// interleavedQK: q/k rows are in the interleaved-pair RoPE order that GGUF's
	// llama converter writes; they are used so and their outputs reordered
	// (headPermuter), or permuted to rotate_half order on load.
	interleavedQK bool
}

var hfRoles = map[string]string{
	"attn_norm": "input_layernorm.weight", "ffn_norm": "post_attention_layernorm.weight",
	"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj",
	"gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj",
}

var ggufRoles = map[string]string{
	"attn_norm": "attn_norm.weight", "ffn_norm": "ffn_norm.weight",
	"q": "attn_q", "k": "attn_k", "v": "attn_v", "o": "attn_output",
	"gate": "ffn_gate", "up": "ffn_up", "down": "ffn_down",
}

var hfNames = names{
	embed: "model.embed_tokens.weight", norm: "model.norm.weight", output: "lm_head.weight",
	layer: func(i int, role string) string { return fmt.Sprintf("model.layers.%d.%s", i, hfRoles[role]) },
}

var ggufNames = names{
	embed: "token_embd.weight", norm: "output_norm.weight", output: "output.weight",
	layer:         func(i int, role string) string { return fmt.Sprintf("blk.%d.%s", i, ggufRoles[role]) },
	interleavedQK: true,
}

// loader reads and checks every tensor against the config before handing it to the
// backend, so a file whose shapes disagree fails with the tensor's name.
type loader struct {
	c   *Config
	src Tensors
	n   names
	b   compute.Backend
	o   LoadOptions
}

// LoadOptions adjust how weights are kept.
type LoadOptions struct {
	// Quantize, when Q8_0 or Q4_K, encodes every float weight matrix (F32,
	// F16, BF16) whose rows are whole blocks into that format on load, with
	// ggml's quantizers, on backends that compute with it; matrices a file
	// already stores quantized keep their format.
	Quantize gguf.Type
}

// quantizers are the formats LoadOptions.Quantize accepts.
var quantizers = map[gguf.Type]func(dst []byte, src []float32){
	gguf.TypeQ8_0: gguf.QuantizeQ8_0, gguf.TypeQ4_K: gguf.QuantizeQ4_K,
}

// ParseQuantize maps the names a deployment uses (q8_0, q4_k; "" for none)
// to a LoadOptions.Quantize format.
func ParseQuantize(name string) (gguf.Type, error) {
	switch strings.ToLower(name) {
	case "", "none":
		return 0, nil
	case "q8_0":
		return gguf.TypeQ8_0, nil
	case "q4_k":
		return gguf.TypeQ4_K, nil
	}
	return 0, fmt.Errorf("quantization %q is not supported (want q8_0 or q4_k)", name)
}

// store hands a float32 weight matrix to the backend, quantized first when
// the options ask for it and the rows are whole blocks of the format.
func (l *loader) store(data []float32, rows, cols int) compute.Matrix {
	q, ok := quantizers[l.o.Quantize]
	t := l.o.Quantize
	if !ok || rows <= 1 || cols%t.BlockSize() != 0 {
		return l.b.Matrix(data, rows, cols)
	}
	fill := func(raw []byte) { quantizeRows(q, raw, data, rows, cols/t.BlockSize()*t.BlockBytes()) }
	if qb, ok := l.b.(quantizedBackend); ok {
		if m, ok := qb.MatrixQuantized(t, rows, cols, fill); ok {
			return m
		}
	}
	return l.b.Matrix(data, rows, cols)
}

// quantizedBackend keeps the weights a model is quantized to on load in
// storage its matrices own (the CPU's: outside the Go heap, where a model's
// worth of live heap would let as much garbage pile up before a collection).
type quantizedBackend interface {
	MatrixQuantized(t gguf.Type, rows, cols int, fill func(dst []byte)) (compute.Matrix, bool)
}

func (l *loader) tensor(name string, shape ...int) ([]float32, error) {
	data, got, err := l.src.Float32(name)
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %w", name, err)
	}
	if len(got) == 1 && len(shape) == 2 && shape[0] == 1 { // biases and norms
		got = []int{1, got[0]}
	}
	if !slices.Equal(got, shape) {
		return nil, fmt.Errorf("tensor %s has shape %v, want %v for this config", name, got, shape)
	}
	for _, v := range data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("tensor %s holds NaN or Inf", name)
		}
	}
	return data, nil
}

// storedSource hands out a tensor's bytes in its file format (GGUF's type
// names), without widening; ok is false when the format has none of these.
type storedSource interface {
	Stored(name string) (t gguf.Type, data []byte, shape []int, ok bool)
}

// storedBackend keeps weight matrices in formats its kernels compute with
// directly (half floats, GGUF blocks); ok is false for other formats.
type storedBackend interface {
	MatrixStored(t gguf.Type, data []byte, rows, cols int) (compute.Matrix, bool)
}

// narrow returns a weight matrix as stored (F16, BF16, block-quantized),
// when the file holds it so and the backend computes with that format; ok is
// false otherwise. Its scales are checked like ggml_validate_row_data does.
// heads > 0 permutes that many heads of interleaved q or k rows to
// rotate_half order.
func (l *loader) narrow(name string, rows, cols, heads int) (m compute.Matrix, ok bool, err error) {
	src, sok := l.src.(storedSource)
	b, bok := l.b.(storedBackend)
	if !sok || !bok || rows == 1 {
		return nil, false, nil
	}
	t, data, shape, isStored := src.Stored(name)
	if !isStored || (l.o.Quantize != 0 && !t.Quantized()) {
		return nil, false, nil // float weights to be quantized take the float path
	}
	if !slices.Equal(shape, []int{rows, cols}) {
		return nil, false, fmt.Errorf("tensor %s has shape %v, want %v for this config", name, shape, []int{rows, cols})
	}
	if err := gguf.CheckScales(t, data); err != nil {
		return nil, false, fmt.Errorf("tensor %s: %w", name, err)
	}
	if heads > 0 {
		data = deinterleave(data, heads, rows/heads, len(data)/rows)
	}
	m, ok = b.MatrixStored(t, data, rows, cols)
	return m, ok, nil
}

func (l *loader) matrix(name string, rows, cols int) (compute.Matrix, error) {
	if m, ok, err := l.narrow(name, rows, cols, 0); ok || err != nil {
		return m, err
	}
	data, err := l.tensor(name, rows, cols)
	if err != nil {
		return nil, err
	}
	return l.store(data, rows, cols), nil
}

func (l *loader) linear(i int, role string, out, in int, bias bool) (*Linear, error) {
	base := l.n.layer(i, role)
	heads := map[string]int{"q": l.c.Heads, "k": l.c.KVHeads}[role]
	if !l.n.interleavedQK {
		heads = 0
	}
	lin := &Linear{Module: moduleIndex[role]}
	// A backend that reorders the outputs (headPermuter) computes with the
	// rows as the file holds them; for others they are permuted on load.
	permute := heads
	if _, ok := l.b.(headPermuter); ok {
		lin.InterleavedHeads, permute = heads, 0
	}
	w, ok, err := l.narrow(base+".weight", out, in, permute)
	if err != nil {
		return nil, err
	}
	if !ok {
		data, err := l.tensor(base+".weight", out, in)
		if err != nil {
			return nil, err
		}
		if permute > 0 {
			data = deinterleave(data, permute, out/permute, in)
		}
		w = l.store(data, out, in)
	}
	if ok {
		w = l.pack(w, base+".weight")
	}
	lin.W = w
	if bias {
		b, err := l.tensor(base+".bias", 1, out)
		if err != nil {
			return nil, err
		}
		if heads > 0 {
			b = deinterleave(b, heads, out/heads, 1)
		}
		lin.Bias = l.b.Matrix(b, 1, out)
	}
	return lin, nil
}

// packer rearranges a stored weight matrix that only meets matmuls into a
// layout its kernels read faster, in memory the new matrix owns (the CPU's
// packed 32-value formats and K-quants); ok is false where it keeps m as
// it is.
type packer interface {
	Pack(m compute.Matrix) (compute.Matrix, bool)
}

// releaser lets go of the resident pages of a tensor it handed out (a
// memory-mapped file's), once the backend has copied it.
type releaser interface {
	Release(name string)
}

// pack hands the stored matrix m of tensor name to the backend's packer,
// if any; once packed, the file's copy of it need not stay resident.
func (l *loader) pack(m compute.Matrix, name string) compute.Matrix {
	p, ok := l.b.(packer)
	if !ok {
		return m
	}
	pm, packed := p.Pack(m)
	if !packed {
		return m
	}
	if r, ok := l.src.(releaser); ok {
		r.Release(name)
	}
	return pm
}

// quantizeRows encodes rows in parallel: Q4_K's search costs about a
// microsecond a weight, minutes for a 7B model on one core.
func quantizeRows(q func(dst []byte, src []float32), raw []byte, data []float32, rows, rowBytes int) {
	cols := len(data) / rows
	workers := min(runtime.GOMAXPROCS(0), rows)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := rows*w/workers, rows*(w+1)/workers
		wg.Go(func() { q(raw[lo*rowBytes:hi*rowBytes], data[lo*cols:hi*cols]) })
	}
	wg.Wait()
}

// deinterleave reorders the rows of each head from the interleaved-pair layout
// (rows 2i, 2i+1 rotate together) to rotate_half (rows i, i+d/2), the inverse of
// transformers' convert_llama_weights_to_hf permute. It returns a new slice: the
// input may be a read-only memory map.
func deinterleave[T float32 | byte](w []T, heads, headDim, cols int) []T {
	out := make([]T, len(w))
	half := headDim / 2
	for h := 0; h < heads; h++ {
		for i := 0; i < half; i++ {
			for p := 0; p < 2; p++ {
				src := (h*headDim + 2*i + p) * cols
				dst := (h*headDim + p*half + i) * cols
				copy(out[dst:dst+cols], w[src:src+cols])
			}
		}
	}
	return out
}

func (l *loader) layer(i int) (*Layer, error) {
	c := l.c
	var ly Layer
	var err error
	if ly.AttnNorm, err = l.matrix(l.n.layer(i, "attn_norm"), 1, c.Dim); err != nil {
		return nil, err
	}
	if ly.FFNNorm, err = l.matrix(l.n.layer(i, "ffn_norm"), 1, c.Dim); err != nil {
		return nil, err
	}
	q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	specs := []struct {
		dst     **Linear
		role    string
		out, in int
		bias    bool
	}{
		{&ly.Q, "q", q, c.Dim, c.QKVBias}, {&ly.K, "k", kv, c.Dim, c.QKVBias},
		{&ly.V, "v", kv, c.Dim, c.QKVBias}, {&ly.O, "o", c.Dim, q, c.OutBias},
		{&ly.Gate, "gate", c.FFN, c.Dim, false}, {&ly.Up, "up", c.FFN, c.Dim, false},
		{&ly.Down, "down", c.Dim, c.FFN, false},
	}
	for _, s := range specs {
		if *s.dst, err = l.linear(i, s.role, s.out, s.in, s.bias); err != nil {
			return nil, err
		}
	}
	return &ly, nil
}

func load(c *Config, src Tensors, n names, b compute.Backend, o LoadOptions) (*Model, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	if _, ok := quantizers[o.Quantize]; o.Quantize != 0 && !ok {
		return nil, fmt.Errorf("quantizing to %s on load is not supported (want Q8_0 or Q4_K)", o.Quantize)
	}
	l := &loader{c: c, src: src, n: n, b: b, o: o}
	m := &Model{Config: *c, b: b}
	var err error
	if m.Embed, err = l.matrix(n.embed, c.Vocab, c.Dim); err != nil {
		return nil, err
	}
	if m.Norm, err = l.matrix(n.norm, 1, c.Dim); err != nil {
		return nil, err
	}
	switch {
	// transformers re-ties a tied model's head to the embedding even when the
	// file also stores lm_head.weight; llama.cpp uses output.weight when present.
	case src.Has(n.output) && (n.interleavedQK || !c.TiedEmbedding):
		if m.Output, err = l.matrix(n.output, c.Vocab, c.Dim); err != nil {
			return nil, err
		}
		m.Output = l.pack(m.Output, n.output)
		m.Config.TiedEmbedding = false
	case c.TiedEmbedding || n.interleavedQK: // llama.cpp ties when output.weight is absent
		// Every decode step reads a tied head whole, so packing costs no
		// memory, and lookups unpack their rows from the packed copy.
		m.Embed = l.pack(m.Embed, n.embed)
		m.Output, m.Config.TiedEmbedding = m.Embed, true
	default:
		return nil, fmt.Errorf("tensor %s is missing and tie_word_embeddings is false", n.output)
	}
	for i := 0; i < c.Layers; i++ {
		ly, err := l.layer(i)
		if err != nil {
			return nil, err
		}
		m.Layers = append(m.Layers, ly)
	}
	m.rope = compute.Rope{InvFreq: c.InvFreq(), MScale: 1}
	return m, nil
}
