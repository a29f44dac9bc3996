// Package ring reproduces Envoy's consistent-hash load balancers (ring hash,
// Maglev, and the bounded-load walk of hash_balance_factor) host for host, so
// a simulation or a test can predict which replica Envoy sends a route key to.
// Envoy's choice is the reference; tests in xds compare with a real Envoy.
package ring

import (
	"math"
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// HashKey is what Envoy's header hash policy computes from the route-key
// header: xxHash64 of the value, seed 0.
func HashKey(key string) uint64 { return xxhash.Sum64String(key) }

// Host is one endpoint as Envoy's load balancer sees it: its hash key (the
// envoy.lb hash_key metadata, the replica id in Graft) and its weight.
type Host struct {
	Key    string
	Weight uint32 // 0 counts as 1, Envoy's default
}

// Table picks a host index for a hash; attempt > 0 is a host-selection retry.
type Table interface {
	Pick(hash uint64, attempt uint32) int
}

// Envoy's ring size defaults.
const (
	DefaultMinRingSize = 1024
	DefaultMaxRingSize = 8 * 1024 * 1024
)

type ringEntry struct {
	hash uint64
	host int
}

// Ring is Envoy's ketama-style ring (ring_hash_lb.cc).
type Ring struct {
	entries []ringEntry
}

// normalize gives each host weight/sum in input order, as Envoy's
// normalizeHostWeights does (same float operations, same order).
func normalize(hosts []Host) (w []float64, minW, maxW float64) {
	var sum uint64
	for _, h := range hosts {
		sum += uint64(weight(h))
	}
	minW, maxW = 1.0, 0.0
	for _, h := range hosts {
		x := float64(weight(h)) * 1.0 / float64(sum)
		w = append(w, x)
		minW, maxW = min(minW, x), max(maxW, x)
	}
	return w, minW, maxW
}

func weight(h Host) uint32 { return max(h.Weight, 1) }

// NewRing builds the ring Envoy builds for hosts in this order (the order
// of the healthy hosts, i.e. of the EDS endpoints).
func NewRing(hosts []Host, minSize, maxSize uint64) *Ring {
	r := &Ring{}
	if len(hosts) == 0 {
		return r
	}
	w, minW, _ := normalize(hosts)
	scale := math.Min(math.Ceil(minW*float64(minSize))/minW, float64(maxSize))
	r.entries = make([]ringEntry, 0, uint64(math.Ceil(scale)))
	current, target := 0.0, 0.0
	for i, h := range hosts {
		prefix := h.Key + "_"
		target += scale * w[i]
		for n := uint64(0); current < target; n++ {
			r.entries = append(r.entries, ringEntry{xxhash.Sum64String(prefix + strconv.FormatUint(n, 10)), i})
			current++
		}
	}
	slices.SortFunc(r.entries, func(a, b ringEntry) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
	return r
}

// Size is the number of points on the ring.
func (r *Ring) Size() int { return len(r.entries) }

// Pick is Envoy's port of ketama_get_server, quirks included (signed
// bounds, wrap to the first point).
func (r *Ring) Pick(h uint64, attempt uint32) int {
	n := int64(len(r.entries))
	if n == 0 {
		return -1
	}
	lowp, highp, midp := int64(0), n, int64(0)
	for {
		midp = (lowp + highp) / 2
		if midp == n {
			midp = 0
			break
		}
		midval := r.entries[midp].hash
		var midval1 uint64
		if midp > 0 {
			midval1 = r.entries[midp-1].hash
		}
		if h <= midval && h > midval1 {
			break
		}
		if midval < h {
			lowp = midp + 1
		} else {
			highp = midp - 1
		}
		if lowp > highp {
			midp = 0
			break
		}
	}
	if attempt > 0 {
		midp = (midp + int64(attempt)) % n
	}
	return r.entries[midp].host
}
