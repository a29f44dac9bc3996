package cuda

import "math"

// Launch geometry, kept free of driver calls so it is tested on the CPU.

const (
	// gemmChunk is the fixed row count of every cuBLAS call (see matmul.go).
	gemmChunk = 128
	// attnSplit and attnTile mirror SPLIT and TILE in kernels/attention.cu.
	attnSplit = 512
	attnTile  = 64
	// maxQueryTile is how many consecutive tokens of a sequence share a block
	// in prefill attention; maxHeadDim mirrors MAX_HEAD_DIM.
	maxQueryTile = 16
	maxHeadDim   = 256
	threads      = 256
)

// blocks1D is the grid size that covers n elements with threads per block.
func blocks1D(n, perBlock int) int { return (n + perBlock - 1) / perBlock }

// gemmChunks splits rows into full chunks of gemmChunk rows and a tail.
func gemmChunks(rows int) (full, tail int) { return rows / gemmChunk, rows % gemmChunk }

// paddedRows is rows rounded up to whole GEMM chunks.
func paddedRows(rows int) int { return blocks1D(rows, gemmChunk) * gemmChunk }

// attnSplits is how many key splits the longest token of a step needs.
func attnSplits(positions []int32) int {
	maxPos := int32(0)
	for _, p := range positions {
		maxPos = max(maxPos, p)
	}
	return int(maxPos)/attnSplit + 1
}

// queryTiles groups tokens into attention query tiles: runs of consecutive
// batch rows of one sequence at consecutive positions (a prefill chunk), at
// most maxQueryTile long; a decode token is a tile of its own. It returns the
// flat [first, count] table and the warps per block to launch.
func queryTiles(seq, positions []int32) (tiles []int32, warps int) {
	warps = 1
	for start := 0; start < len(seq); {
		end := start + 1
		for end < len(seq) && end-start < maxQueryTile && seq[end] == seq[start] && positions[end] == positions[end-1]+1 {
			end++
		}
		tiles = append(tiles, int32(start), int32(end-start))
		if end-start > 1 {
			warps = 4
		}
		start = end
	}
	return tiles, warps
}

// flattenTables packs per-sequence block tables into one [seqs][stride] array,
// stride being the longest table, padded with zeros.
func flattenTables(tables [][]int32) (flat []int32, stride int) {
	for _, t := range tables {
		stride = max(stride, len(t))
	}
	stride = max(stride, 1)
	flat = make([]int32, len(tables)*stride)
	for i, t := range tables {
		copy(flat[i*stride:], t)
	}
	return flat, stride
}

func putF64(b []byte, f float64) {
	u := math.Float64bits(f)
	for i := range 8 {
		b[i] = byte(u >> (8 * i))
	}
}
