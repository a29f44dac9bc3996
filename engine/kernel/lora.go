package kernel

// loraPanel is how many output columns one panel of a LoRA B holds: the
// AVX2 expand keeps them in four registers while it adds every rank's
// term, four FMA chains side by side.
const loraPanel = 32

var (
	expandLoRAImpl     = expandLoRAGo
	expandLoRABF16Impl = expandLoRABF16Go
)

// LoRAPanelsLen is the length of LoRAPanels' result for a B of rows×rank.
func LoRAPanelsLen(rows, rank int) int {
	return (rows + loraPanel - 1) / loraPanel * loraPanel * rank
}

// LoRAPanels lays out a LoRA B (rows×rank, row-major, as PEFT stores
// lora_B) for ExpandLoRA: panel p holds, for each rank k in turn, the 32
// values B[32p..32p+31][k], zero past the last row. The expand then reads B
// in order, one panel's outputs in registers over all ranks, where
// row-by-row axpys over Bᵀ loaded and stored the outputs once per rank.
func LoRAPanels(b []float32, rows, rank int) []float32 {
	return lorapanels(b, rows, rank, f32Slot)
}

// LoRAPanelsBF16 is LoRAPanels for ExpandLoRABF16, with the middle two
// quarters of every 16 values swapped: the AVX2 expand widens 16 values
// with an in-lane unpack against zeros, which takes values 0-3 and 8-11 of
// its 32 bytes, then 4-7 and 12-15.
func LoRAPanelsBF16(b []uint16, rows, rank int) []uint16 {
	return lorapanels(b, rows, rank, bf16Slot)
}

// f32Slot is where LoRAPanels keeps output o of a panel: in order.
func f32Slot(o int) int { return o }

// bf16Slot is where LoRAPanelsBF16 keeps output o of a panel.
func bf16Slot(o int) int {
	switch o % 16 / 4 {
	case 1:
		return o + 4
	case 2:
		return o - 4
	}
	return o
}

func lorapanels[T float32 | uint16](b []T, rows, rank int, slot func(int) int) []T {
	checkLen("LoRAPanels", rows*rank, len(b))
	p := make([]T, LoRAPanelsLen(rows, rank))
	for r := range rows {
		base := r/loraPanel*loraPanel*rank + slot(r%loraPanel)
		for k := range rank {
			p[base+k*loraPanel] = b[r*rank+k]
		}
	}
	return p
}

// ExpandLoRA adds Σₖ c[k]·B[:,k] to y, with B (len(y)×len(c)) laid out by
// LoRAPanels. Each element gets the bits of len(c) Axpy calls, one per
// column of B in order, from one pass over y.
func ExpandLoRA(y, c, panels []float32) {
	checkLen("ExpandLoRA", LoRAPanelsLen(len(y), len(c)), len(panels))
	expandLoRAImpl(y, c, panels)
}

// ExpandLoRABF16 is ExpandLoRA with B in bfloat16 laid out by
// LoRAPanelsBF16, each value widened exactly: the bits are those of
// ExpandLoRA on the float32 values.
func ExpandLoRABF16(y, c []float32, panels []uint16) {
	checkLen("ExpandLoRABF16", LoRAPanelsLen(len(y), len(c)), len(panels))
	expandLoRABF16Impl(y, c, panels)
}

// The portable expands keep axpyGo's expression, so that the compiler
// treats each term as it does there.
func expandLoRAGo(y, c, p []float32) {
	expandGo(y, c, p, f32Slot, func(v float32) float32 { return v })
}

func expandLoRABF16Go(y, c []float32, p []uint16) { expandGo(y, c, p, bf16Slot, bf16) }

// expandGo reads output i's value for rank k at slot(i%loraPanel) of its
// panel's rank row, widened by value.
func expandGo[T float32 | uint16](y, c []float32, p []T, slot func(int) int, value func(T) float32) {
	r := len(c)
	for i := range y {
		blk := p[i/loraPanel*loraPanel*r+slot(i%loraPanel):]
		for k, a := range c {
			y[i] += a * value(blk[k*loraPanel])
		}
	}
}
