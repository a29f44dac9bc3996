// Package compute is the seam between model code and the hardware: model code calls
// a Backend and never touches memory layouts, threads or SIMD. The CPU backend lives
// in compute/cpu; a CUDA backend implements the same interface.
package compute

// Buffer is an activation buffer owned by a backend (host memory on the CPU, device
// memory on a GPU).
type Buffer interface {
	Len() int
}

// Matrix is a weight matrix of Rows x Cols (PyTorch Linear layout: one row per
// output feature) owned by a backend, possibly in a narrower storage type.
type Matrix interface {
	Rows() int
	Cols() int
}

// KVCache holds the keys and values of every layer in fixed-size blocks; a token
// at cache slot s lives in block s/BlockSize at offset s%BlockSize.
type KVCache interface {
	NumBlocks() int
	BlockSize() int
}

// Attention describes one forward step's tokens for paged attention.
type Attention struct {
	Positions []int32   // per token: its position in its sequence
	Seq       []int32   // per token: index into Tables
	Slots     []int32   // per token: the cache slot its key/value are written to
	Tables    [][]int32 // per sequence: its block table
	Window    int       // sliding-window size in positions; 0 means full attention
	Heads     int
	KVHeads   int
	HeadDim   int
	Scale     float32 // usually 1/sqrt(HeadDim)
}

// LoRASegment applies one adapter's low-rank delta to rows [Start, End).
type LoRASegment struct {
	Start, End int
	A          Matrix // rank x in
	B          Matrix // out x rank
	Scale      float32
}

// Rope describes rotary position embedding in Hugging Face's rotate_half layout:
// dimension i of a head pairs with i+HeadDim/2 and turns by angle pos*InvFreq[i].
type Rope struct {
	InvFreq []float64 // HeadDim/2 frequencies, scaling already applied
	// Attention scaling some rope variants apply to cos/sin (1 for most).
	MScale float32
}

// Backend runs the forward pass's operations. Rows are tokens of the flat batch.
type Backend interface {
	Alloc(n int) Buffer
	// Matrix takes ownership of data (Rows*Cols float32, row-major).
	Matrix(data []float32, rows, cols int) Matrix
	NewKVCache(layers, blocks, blockSize, kvHeads, headDim int) KVCache

	// Embed copies rows tokens[i] of table into out.
	Embed(out Buffer, table Matrix, tokens []int32)
	// MatMul: out[rows, w.Rows] = x[rows, w.Cols] · wᵀ. Each row's result must not
	// depend on the other rows (batch invariance).
	MatMul(out, x Buffer, w Matrix, rows int)
	// AddBias adds the 1 x n bias to each of rows rows of x.
	AddBias(x Buffer, bias Matrix, rows int)
	RMSNorm(out, x Buffer, weight Matrix, rows int, eps float32)
	RoPE(x Buffer, rows, heads, headDim int, positions []int32, r *Rope)
	// StoreKV writes each token's key and value rows into its cache slot of layer.
	StoreKV(c KVCache, layer int, k, v Buffer, slots []int32)
	// CopyKVBlock copies every layer's keys and values in block src to block
	// dst (sequences forked from one prompt each get its partly filled block).
	CopyKVBlock(c KVCache, src, dst int32)
	// Attend: out[t] = softmax(q[t]·K/√d) V over the token's sequence positions
	// 0..pos (or the last Window ones), reading K/V from the cache.
	Attend(out, q Buffer, c KVCache, layer int, a *Attention)
	SiLUMul(out, gate, up Buffer, n int)
	Add(out, a, b Buffer, n int)
	// AddLoRA adds Scale·B(A·x) to out for the rows of each segment: the
	// adapter deltas of a batch grouped by adapter (SGMV-style segments for
	// runs of prefill rows, one-row segments for decodes, BGMV-style). rows is
	// the batch's row count; scratch holds at least rows*(maxRank+outDim)
	// floats. A row's result must not depend on the other rows.
	AddLoRA(out, x Buffer, rows int, segs []LoRASegment, scratch Buffer)
	// Gather copies rows idx[i] (width floats each) of x into out's row i.
	Gather(out, x Buffer, idx []int32, width int)
	// Read copies the first len(dst) floats of b to host memory.
	Read(dst []float32, b Buffer)
	// Write copies src into the start of b.
	Write(b Buffer, src []float32)
}
