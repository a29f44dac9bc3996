package ring

import (
	"fmt"
	"testing"
)

func hosts(n int) []Host {
	var h []Host
	for i := range n {
		h = append(h, Host{Key: fmt.Sprintf("replica-%d", i)})
	}
	return h
}

// TestMT19937 checks the generator against the C++ standard's required
// value: the 10000th output of a default-seeded std::mt19937 is 4123659995.
func TestMT19937(t *testing.T) {
	m := newMT19937(5489)
	var v uint32
	for range 10000 {
		v = m.next()
	}
	if v != 4123659995 {
		t.Fatalf("10000th output %d, want 4123659995", v)
	}
}

// TestRingSizeAndShares: Envoy scales the ring so the lightest host gets a
// whole number of points at least minSize in all, and each host's share of
// keys follows its weight.
func TestRingSizeAndShares(t *testing.T) {
	r := NewRing(hosts(3), 1024, DefaultMaxRingSize)
	if r.Size() != 1026 { // ceil(1024/3)*3
		t.Fatalf("ring size %d, want 1026", r.Size())
	}
	w := []Host{{Key: "a", Weight: 1}, {Key: "b", Weight: 3}}
	r = NewRing(w, 1024, DefaultMaxRingSize)
	if r.Size() != 1024 { // the lightest host gets 256 points, the other 768
		t.Fatalf("weighted ring size %d, want 1024", r.Size())
	}
	counts := make([]int, 2)
	for k := range 20000 {
		counts[r.Pick(HashKey(fmt.Sprint("key-", k)), 0)]++
	}
	if share := float64(counts[1]) / 20000; share < 0.7 || share > 0.8 {
		t.Fatalf("weight-3 host got %.2f of keys, want about 0.75", share)
	}
	if NewRing(hosts(4), 1024, 6).Size() != 6 {
		t.Fatal("max ring size not applied")
	}
}

// TestConsistency: removing one host moves few of the other hosts' keys.
// Neither is perfectly stable: Envoy gives each ring host ceil(min/N) points,
// so the survivors gain points (103 to 114 here), and Maglev's table refill
// disturbs a little by design.
func TestConsistency(t *testing.T) {
	all, less := hosts(10), hosts(9)
	for _, c := range []struct {
		name     string
		a, b     Table
		maxMoved float64
	}{
		{"ring", NewRing(all, 1024, DefaultMaxRingSize), NewRing(less, 1024, DefaultMaxRingSize), 0.1},
		{"maglev", NewMaglev(all, DefaultMaglevSize), NewMaglev(less, DefaultMaglevSize), 0.02},
	} {
		moved, n := 0, 20000
		for k := range n {
			h := HashKey(fmt.Sprint("adapter-", k))
			before, after := c.a.Pick(h, 0), c.b.Pick(h, 0)
			if before != 9 && before != after {
				moved++
			}
		}
		if frac := float64(moved) / float64(n); frac > c.maxMoved {
			t.Errorf("%s: %.3f of the other hosts' keys moved", c.name, frac)
		}
	}
}

// TestMaglevBalanced: every host owns about 1/N of the table.
func TestMaglevBalanced(t *testing.T) {
	m := NewMaglev(hosts(7), DefaultMaglevSize)
	counts := make([]int, 7)
	for _, h := range m.table {
		counts[h]++
	}
	for i, c := range counts {
		if c < DefaultMaglevSize/7-1 || c > DefaultMaglevSize/7+1 {
			t.Errorf("host %d owns %d entries of %d", i, c, DefaultMaglevSize)
		}
	}
	if m.Pick(12345, 1) == m.Pick(12345, 0) && m.Pick(54321, 1) == m.Pick(54321, 0) && m.Pick(999, 1) == m.Pick(999, 0) {
		t.Error("retries never moved the hash")
	}
}

// TestBoundedSpills: a host at its bound is passed over for one under it,
// the same hash walks the same way, and with every host over the bound the
// least overloaded wins.
func TestBoundedSpills(t *testing.T) {
	hs := hosts(5)
	b := NewBounded(NewRing(hs, 1024, DefaultMaxRingSize), hs, 150)
	h := HashKey("hot")
	home := b.Pick(h, make([]uint32, 5), 0)
	active := make([]uint32, 5)
	active[home] = 10
	// total 10: slots = ceil(ceil(11*1.5)/5) = 4, home is over.
	alt := b.Pick(h, active, 10)
	if alt == home {
		t.Fatalf("host with 10 of 10 in flight still chosen")
	}
	if again := b.Pick(h, active, 10); again != alt {
		t.Fatalf("same hash walked to %d then %d", alt, again)
	}
	for i := range active {
		active[i] = 10
	}
	active[3] = 9
	if got := b.Pick(h, active, 49); home != 3 && got != 3 {
		t.Fatalf("all over the bound: got %d, want the least loaded 3", got)
	}
	if NewBounded(b.table, hs, 0).Pick(h, active, 49) != home {
		t.Fatal("factor 0 must not bound")
	}
}
