package train

import (
	"math"

	"github.com/graft-ai/graft/engine/compute"
	"github.com/graft-ai/graft/engine/model"
)

// hostMatrix is a weight matrix as engine/model's loader hands it over: float32
// in host memory, whatever the file stored (BF16, F16 and GGUF blocks are widened
// on load, which is how a quantized base trains: dequantized, QLoRA-style math).
type hostMatrix struct {
	data       []float32
	rows, cols int
}

func (m *hostMatrix) Rows() int { return m.rows }
func (m *hostMatrix) Cols() int { return m.cols }

// hostBackend receives the weights of model loading. The loader only calls
// Matrix; the embedded nil Backend makes any other call fail loudly.
type hostBackend struct{ compute.Backend }

func (hostBackend) Matrix(data []float32, rows, cols int) compute.Matrix {
	return &hostMatrix{data: data, rows: rows, cols: cols}
}

// baseLayer is one frozen transformer block. w are the projections in PyTorch
// layout [out, in]; wT their transposes, which the backward pass multiplies by.
// In float32 both are kept only packed for the micro-kernel instead: fwd is
// Wᵀ (x·Wᵀ), bwd is W (dy·W), packed once since the base never changes.
type baseLayer[T float] struct {
	attnNorm, ffnNorm []T
	w, wT, bias       [model.NumModules][]T
	fwd, bwd          [model.NumModules]packedB
}

// base is the frozen model the adapter trains on.
type base[T float] struct {
	cfg        model.Config
	embed, out []T // [vocab, dim]; out aliases embed when tied
	outT, norm []T
	// The output layer packed (float32): outᵀ for the logits, out for their
	// gradient.
	outFwd, outBwd packedB
	layers         []baseLayer[T]
	invFreq        []float64
}

func widen[T float](m compute.Matrix) []T {
	if m == nil {
		return nil
	}
	src := m.(*hostMatrix).data
	out := make([]T, len(src))
	for i, v := range src {
		out[i] = T(v)
	}
	return out
}

// newBase copies a model loaded on hostBackend into T.
func newBase[T float](m *model.Model) *base[T] {
	c := m.Config
	b := &base[T]{cfg: c, embed: widen[T](m.Embed), norm: widen[T](m.Norm), invFreq: c.InvFreq()}
	b.out = b.embed
	if !c.TiedEmbedding {
		b.out = widen[T](m.Output)
	}
	_, f32 := any(b).(*base[float32])
	if !f32 {
		b.outT = make([]T, len(b.out))
		transpose(b.outT, b.out, c.Vocab, c.Dim)
	}
	for _, ly := range m.Layers {
		bl := baseLayer[T]{attnNorm: widen[T](ly.AttnNorm), ffnNorm: widen[T](ly.FFNNorm)}
		for mod, lin := range []*model.Linear{ly.Q, ly.K, ly.V, ly.O, ly.Gate, ly.Up, ly.Down} {
			out, in := c.ModuleShape(mod)
			bl.w[mod] = widen[T](lin.W)
			if !f32 {
				bl.wT[mod] = make([]T, out*in)
				transpose(bl.wT[mod], bl.w[mod], out, in)
			}
			bl.bias[mod] = widen[T](lin.Bias)
		}
		b.layers = append(b.layers, bl)
	}
	if f32 {
		packBase(any(b).(*base[float32]))
	}
	return b
}

// packBase lays the frozen matrices out for the micro-kernel and drops the
// unpacked copies that only the float64 path reads.
func packBase(b *base[float32]) {
	c := &b.cfg
	b.outFwd.packT(b.out, c.Dim, c.Dim, c.Vocab)
	b.outBwd.pack(b.out, c.Dim, c.Vocab, c.Dim)
	for l := range b.layers {
		bl := &b.layers[l]
		for mod := range bl.w {
			o, in := c.ModuleShape(mod)
			bl.fwd[mod].packT(bl.w[mod], in, in, o)
			bl.bwd[mod].pack(bl.w[mod], in, o, in)
			bl.w[mod] = nil
		}
	}
}

// ropeTables returns cos and sin of pos·invFreq[i], [maxLen][half], from float64 angles.
func ropeTables[T float](invFreq []float64, maxLen int) (cos, sin []T) {
	half := len(invFreq)
	cos, sin = make([]T, maxLen*half), make([]T, maxLen*half)
	for p := 0; p < maxLen; p++ {
		for i, f := range invFreq {
			s, c := math.Sincos(float64(p) * f)
			cos[p*half+i], sin[p*half+i] = T(c), T(s)
		}
	}
	return cos, sin
}
