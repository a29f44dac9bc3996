// Package spread chooses route keys for one deployment's adapters: a cold
// adapter's key is its name, so the ring sends all its requests to the
// replica holding it; a hot one's is name#i for i in 0..k-1, spreading it
// over k replicas, k following its request rate with hysteresis. The
// gateway drives it with rates pooled in Redis and the wall clock; the
// routing simulator with its own clock and in-memory rates.
package spread

import (
	"math"
	"strconv"
)

// Keys is the route-key state of one deployment. It is not safe for
// concurrent use: the gateway holds a lock around it.
type Keys struct {
	hotRate float64 // requests/s one replica takes of an adapter before it spreads
	maxK    int

	counts map[string]int64 // adapter → requests since the last Drain
	k      map[string]int   // adapter → replicas it spreads over, only when > 1
	next   map[string]uint32
}

// New returns Keys that spread an adapter once it passes hotRate requests/s
// per replica, over at most maxK replicas.
func New(hotRate float64, maxK int) *Keys {
	return &Keys{hotRate: hotRate, maxK: maxK,
		counts: map[string]int64{}, k: map[string]int{}, next: map[string]uint32{}}
}

// RouteKey counts one request and returns its route key; "" for the base
// model, which any replica serves equally well.
func (s *Keys) RouteKey(adapter string) string {
	if adapter == "" {
		return ""
	}
	s.counts[adapter]++
	k := s.k[adapter]
	if k <= 1 {
		return adapter
	}
	i := s.next[adapter] % uint32(k)
	s.next[adapter]++
	return adapter + "#" + strconv.Itoa(int(i))
}

// K returns how many replicas an adapter currently spreads over.
func (s *Keys) K(adapter string) int { return max(s.k[adapter], 1) }

// Hot reports whether any adapter spreads (it must keep getting updates to
// cool down even with no requests).
func (s *Keys) Hot() bool { return len(s.k) > 0 }

// Drain returns the requests counted since the last Drain and resets them.
func (s *Keys) Drain() map[string]int64 {
	c := s.counts
	s.counts = map[string]int64{}
	return c
}

// Update moves each adapter's k toward its rate (sums requests over secs):
// up at once, down one step at a time and only well below the threshold,
// so k does not flap.
func (s *Keys) Update(sums map[string]int64, secs float64) {
	for adapter, k := range s.k {
		s.step(adapter, k, float64(sums[adapter])/secs)
	}
	for adapter, n := range sums {
		if _, spread := s.k[adapter]; !spread {
			s.step(adapter, 1, float64(n)/secs)
		}
	}
}

func (s *Keys) step(adapter string, k int, rate float64) {
	target := min(max(int(math.Ceil(rate/s.hotRate)), 1), s.maxK)
	switch {
	case target > k:
		k = target
	case k > 1 && rate < s.hotRate*float64(k-1)*0.75:
		k--
	}
	if k <= 1 {
		delete(s.k, adapter)
		delete(s.next, adapter)
	} else {
		s.k[adapter] = k
	}
}
