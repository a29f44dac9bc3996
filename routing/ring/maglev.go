package ring

import (
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// DefaultMaglevSize is Envoy's default Maglev table size (a prime).
const DefaultMaglevSize = 65537

// Maglev is Envoy's Maglev table (maglev_lb.cc, pseudocode listing 1 of
// the Maglev paper, with weights).
type Maglev struct {
	table []int32
}

type buildEntry struct {
	host                 int
	offset, skip, next   uint64
	weight, targetWeight float64
}

// NewMaglev builds the table Envoy builds; size must be prime.
func NewMaglev(hosts []Host, size uint64) *Maglev {
	m := &Maglev{}
	if len(hosts) == 0 {
		return m
	}
	w, _, maxW := normalize(hosts)
	// Envoy fills in the order of the sorted hash keys so the table does
	// not depend on the endpoints' order.
	order := make([]int, len(hosts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(hosts[a].Key, hosts[b].Key) })
	entries := make([]buildEntry, len(order))
	seed1 := xxhash.NewWithSeed(1)
	for i, h := range order {
		seed1.ResetWithSeed(1)
		seed1.WriteString(hosts[h].Key)
		entries[i] = buildEntry{host: h, weight: w[h],
			offset: xxhash.Sum64String(hosts[h].Key) % size,
			skip:   seed1.Sum64()%(size-1) + 1}
	}
	m.table = make([]int32, size)
	for i := range m.table {
		m.table[i] = -1
	}
	filled := uint64(0)
	for iteration := uint32(1); filled < size; iteration++ {
		for i := 0; i < len(entries) && filled < size; i++ {
			e := &entries[i]
			if float64(iteration)*e.weight < e.targetWeight {
				continue
			}
			e.targetWeight += maxW
			c := (e.offset + e.skip*e.next) % size
			for m.table[c] >= 0 {
				e.next++
				c = (e.offset + e.skip*e.next) % size
			}
			m.table[c] = int32(e.host)
			e.next++
			filled++
		}
	}
	return m
}

// Pick looks the hash up; a retry flips most bits of it, as Envoy does.
func (m *Maglev) Pick(hash uint64, attempt uint32) int {
	if len(m.table) == 0 {
		return -1
	}
	if attempt > 0 {
		hash ^= ^uint64(0) - uint64(attempt) + 1
	}
	return int(m.table[hash%uint64(len(m.table))])
}
