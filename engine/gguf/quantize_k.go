package gguf

import (
	"encoding/binary"
	"math"

	"github.com/graft-ai/graft/engine/float16"
)

// QuantizeQ4_K encodes src (a multiple of 256 values) into dst, which needs
// len(src)/256*144 bytes, as ggml's quantize_row_q4_K_ref does without an
// importance matrix: per 32 values a weighted least-squares search for a
// 4-bit scale and offset, the 8 scales and offsets then quantized to 6 bits
// against F16 super-block scales. The float32 arithmetic follows ggml's
// operation order, so the bytes equal llama.cpp's.
func QuantizeQ4_K(dst []byte, src []float32) {
	var l, laux [qkK]uint8
	var weights [32]float32
	var mins, scales [8]float32
	for b := range len(src) / qkK {
		x := src[b*qkK : (b+1)*qkK]
		y := dst[b*144 : (b+1)*144]
		var maxScale, maxMin float32
		for j := range 8 {
			xj := x[32*j : 32*j+32]
			var sumX2 float32
			for _, v := range xj {
				sumX2 += v * v
			}
			av := float32(math.Sqrt(float64(sumX2 / 32)))
			for i, v := range xj {
				weights[i] = av + float32(math.Abs(float64(v)))
			}
			scales[j], mins[j] = makeQKX2Quants(15, xj, weights[:], l[32*j:32*j+32], laux[:32], -1, 0.1, 20)
			maxScale, maxMin = max(maxScale, scales[j]), max(maxMin, mins[j])
		}
		var invScale, invMin float32
		if maxScale > 0 {
			invScale = 63 / maxScale
		}
		if maxMin > 0 {
			invMin = 63 / maxMin
		}
		sc := y[4:16]
		clear(sc)
		for j := range 8 {
			ls := min(63, uint8(nearestInt(invScale*scales[j])))
			lm := min(63, uint8(nearestInt(invMin*mins[j])))
			if j < 4 {
				sc[j], sc[j+4] = ls, lm
			} else {
				sc[j+4] = ls&0xf | (lm&0xf)<<4
				sc[j-4] |= (ls >> 4) << 6
				sc[j] |= (lm >> 4) << 6
			}
		}
		dh, mh := float16.Float32ToF16(maxScale/63), float16.Float32ToF16(maxMin/63)
		binary.LittleEndian.PutUint16(y, dh)
		binary.LittleEndian.PutUint16(y[2:], mh)
		for j := range 8 {
			s, m := scaleMinK4(j, sc)
			d := float16.F16ToFloat32(dh) * float32(s)
			if d == 0 {
				continue
			}
			dm := float16.F16ToFloat32(mh) * float32(m)
			for i := range 32 {
				l[32*j+i] = uint8(max(0, min(15, nearestInt((x[32*j+i]+dm)/d))))
			}
		}
		q := y[16:144]
		for j := 0; j < qkK; j += 64 {
			for i := range 32 {
				q[i] = l[j+i] | l[j+i+32]<<4
			}
			q = q[32:]
		}
	}
}

// nearestInt is ggml's nearest_int: round half to even through the float32
// magic number 1.5·2^23 (valid for |f| ≤ 2^22).
func nearestInt(f float32) int {
	v := f + 12582912
	return int(math.Float32bits(v)&0x007fffff) - 0x00400000
}

// makeQKX2Quants is ggml's make_qkx2_quants with use_mad false: it returns
// the scale and the (negated, non-negative) offset, and the levels in l.
func makeQKX2Quants(nmax int, x, w []float32, l, laux []uint8, rmin, rdelta float32, nstep int) (scale, theMin float32) {
	n := len(x)
	mn, mx := x[0], x[0]
	sumW := w[0]
	sumX := sumW * x[0]
	for i := 1; i < n; i++ {
		mn, mx = min(mn, x[i]), max(mx, x[i])
		sumW += w[i]
		sumX += w[i] * x[i]
	}
	if mn > 0 {
		mn = 0
	}
	if mx == mn {
		clear(l[:n])
		return 0, -mn
	}
	iscale := float32(nmax) / (mx - mn)
	scale = 1 / iscale
	var bestErr float32
	for i := range n {
		q := max(0, min(nmax, nearestInt(iscale*(x[i]-mn))))
		l[i] = uint8(q)
		diff := float32(scale*float32(q)) + mn - x[i]
		bestErr += w[i] * float32(diff*diff)
	}
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + rdelta*float32(is) + float32(nmax)) / (mx - mn)
		var sumL, sumL2, sumXL float32
		for i := range n {
			q := max(0, min(nmax, nearestInt(iscale*(x[i]-mn))))
			laux[i] = uint8(q)
			wl := w[i] * float32(q)
			sumL += wl
			sumL2 += wl * float32(q)
			sumXL += wl * x[i]
		}
		d := sumW*sumL2 - sumL*sumL
		if d <= 0 {
			continue
		}
		thisScale := (sumW*sumXL - sumX*sumL) / d
		thisMin := (sumL2*sumX - sumL*sumXL) / d
		if thisMin > 0 {
			thisMin = 0
			thisScale = sumXL / sumL2
		}
		var curErr float32
		for i := range n {
			diff := float32(thisScale*float32(laux[i])) + thisMin - x[i]
			curErr += w[i] * float32(diff*diff)
		}
		if curErr < bestErr {
			copy(l[:n], laux[:n])
			bestErr, scale, mn = curErr, thisScale, thisMin
		}
	}
	return scale, -mn
}
