package randmodel

import "testing"

// BenchmarkStories110MWeights is the cost `graft bench engine` pays to make its
// model before timing anything.
func BenchmarkStories110MWeights(b *testing.B) {
	s := Stories110M(1)
	for b.Loop() {
		s.Weights()
	}
}
