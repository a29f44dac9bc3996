package randmodel

import (
	"hash/fnv"
	"math/rand/v2"
	"runtime"
	"sync"
)

// normNoise is the spread of RMSNorm weights around 1: enough that a loader which
// dropped or misplaced a norm gives visibly different logits.
const normNoise = 0.1

// chunk is how many values one PCG stream makes. Streams are keyed by the seed,
// the tensor's name and the chunk's index, so the values do not depend on how many
// threads generate them, and adding a tensor never changes the others.
const chunk = 1 << 20

// Weights generates every tensor of Tensors under its Hugging Face name, in
// rotate_half q/k row order: embeddings, projections and biases drawn from
// N(0, InitStd), norms from N(1, 0.1).
func (s Spec) Weights() map[string][]float32 {
	ts := s.Tensors()
	type job struct {
		data  []float32
		t     *TensorInfo
		index uint64
	}
	var jobs []job
	out := make(map[string][]float32, len(ts))
	for i := range ts {
		data := make([]float32, ts[i].Elements())
		out[ts[i].Name] = data
		for c := 0; c*chunk < len(data); c++ {
			jobs = append(jobs, job{data[c*chunk : min((c+1)*chunk, len(data))], &ts[i], uint64(c)})
		}
	}
	next := make(chan job)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for j := range next {
				s.fill(j.data, j.t, j.index)
			}
		})
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	return out
}

func (s Spec) fill(v []float32, t *TensorInfo, index uint64) {
	h := fnv.New64a()
	h.Write([]byte(t.Name))
	r := rand.New(rand.NewPCG(s.Seed, h.Sum64()^(index*0x9E3779B97F4A7C15)))
	mean, std := 0.0, s.std()
	if t.kind == kindNorm {
		mean, std = 1, normNoise
	}
	for i := range v {
		v[i] = float32(mean + std*r.NormFloat64())
	}
}
