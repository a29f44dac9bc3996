package gateway

import (
	"testing"
	"time"
)

func TestParseModel(t *testing.T) {
	for _, c := range []struct{ in, dep, adapter string }{
		{"stories", "stories", ""},
		{"stories/all-r8", "stories", "all-r8"},
		{"stories/org/name@v2", "stories", "org/name@v2"},
	} {
		d, a, err := ParseModel(c.in)
		if err != nil || d != c.dep || a != c.adapter {
			t.Errorf("%q: %q %q %v", c.in, d, a, err)
		}
	}
	for _, bad := range []string{"", "/x", "a b", "dep/", "dep:1/x", "d/a\nb"} {
		if _, _, err := ParseModel(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestSpreaderKFollowsRateWithHysteresis: k rises at once with the rate,
// falls one step at a time and only well below the threshold, and a quiet
// adapter cools back to one key.
func TestSpreaderKFollowsRateWithHysteresis(t *testing.T) {
	s := newSpreader(nil, 10, 4, 5*time.Second)
	step := func(perSec float64) int {
		s.update("d", map[string]int64{"a": int64(perSec * 5)}, 5)
		return s.K("d", "a")
	}
	for _, c := range []struct {
		rate float64
		k    int
	}{
		{5, 1}, {10, 1}, {11, 2}, {35, 4}, {100, 4}, // capped at max
		{25, 4}, {22, 3}, {19, 3}, {14, 2}, {8, 2}, {7, 1}, {0, 1},
	} {
		if k := step(c.rate); k != c.k {
			t.Fatalf("rate %v/s: k = %d, want %d", c.rate, k, c.k)
		}
	}
	step(30)
	for range 4 {
		s.update("d", map[string]int64{}, 5) // no counts at all
	}
	if k := s.K("d", "a"); k != 1 {
		t.Fatalf("a silent adapter kept k = %d", k)
	}
	keys := map[string]bool{}
	s.update("d", map[string]int64{"b": 200}, 5)
	for range 8 {
		keys[s.RouteKey("d", "b")] = true
	}
	if len(keys) != 4 || !keys["b#0"] || !keys["b#3"] {
		t.Fatalf("hot adapter keys: %v", keys)
	}
	if s.RouteKey("d", "") != "" {
		t.Fatal("the base model got a route key")
	}
}
