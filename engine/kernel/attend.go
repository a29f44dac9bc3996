package kernel

// Attention over one cache block, in the layout that lets both products run
// down the vector lanes with no horizontal sums: a block's keys are stored by
// dimension (kT[d*ld+j] is dimension d of slot j's key) and its values by
// slot (v[j*hd+d]). Each output element then has a fixed recipe that depends
// on nothing but its own inputs: how many slots or dimensions a call covers,
// or which others share a vector, never changes its bits.

// Implementations in use; the SIMD build replaces them at init.
var (
	attnScoresImpl = attnScoresGo
	attnValuesImpl = attnValuesGo
)

// AttnScores sets s[j] = q · key j for j < len(s), the keys being the columns
// of kT, a [len(q)][ld] matrix (ld ≥ len(s)). Each score sums the products
// of dimensions d ≡ m (mod 4) in order of d into four partial sums c_m, then
// returns (c0+c1)+(c2+c3).
func AttnScores(s, q, kT []float32, ld int) {
	if len(s) == 0 {
		return
	}
	checkLen("AttnScores", len(s), ld)
	checkLen("AttnScores", (len(q)-1)*ld+len(s), len(kT))
	attnScoresImpl(s, q, kT, ld)
}

// AttnValues adds Σ_j p[j]·v[j*len(o)+d] to o[d] for d < len(o): the sum runs
// over j in order, starting from p[0]·v[d], and is added to o once.
func AttnValues(o, p, v []float32) {
	if len(p) == 0 {
		return
	}
	checkLen("AttnValues", len(p)*len(o), len(v))
	attnValuesImpl(o, p, v)
}

func attnScoresGo(s, q, kT []float32, ld int) {
	for j := range s {
		var c [4]float32
		for d, x := range q {
			c[d&3] += x * kT[d*ld+j]
		}
		s[j] = (c[0] + c[1]) + (c[2] + c[3])
	}
}

func attnValuesGo(o, p, v []float32) {
	hd := len(o)
	for d := range o {
		var acc float32
		for j, w := range p {
			acc += w * v[j*hd+d]
		}
		o[d] += acc
	}
}
