package train

import "math/rand/v2"

// plan is the data order: each epoch a seeded permutation of the examples,
// cut into micro-batches of batch examples, accum of them per optimizer step
// (the epoch's last step may be short). It is a pure function of the seed,
// so a resumed run needs only its step number to continue the same order.
type plan struct {
	n, batch, accum int
	seed            int64
	stepsPerEpoch   int
	total           int
}

func newPlan(n, batch, accum, epochs int, seed int64) plan {
	micro := (n + batch - 1) / batch
	spe := (micro + accum - 1) / accum
	return plan{n: n, batch: batch, accum: accum, seed: seed, stepsPerEpoch: spe, total: spe * epochs}
}

func (p plan) order(epoch int) []int {
	return rand.New(rand.NewPCG(uint64(p.seed), uint64(epoch)+0x5eed)).Perm(p.n)
}

// step returns the epoch (from 0) and the micro-batches of example indices of
// optimizer step s (from 0).
func (p plan) step(s int) (int, [][]int) {
	epoch, within := s/p.stepsPerEpoch, s%p.stepsPerEpoch
	ord := p.order(epoch)
	var micro [][]int
	for j := 0; j < p.accum; j++ {
		lo := (within*p.accum + j) * p.batch
		if lo >= p.n {
			break
		}
		micro = append(micro, ord[lo:min(lo+p.batch, p.n)])
	}
	return epoch, micro
}
