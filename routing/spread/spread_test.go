package spread

import "testing"

// TestDrainAndCooling: Drain hands over exactly the requests since the
// last one, and a spread adapter with no requests at all cools to one key.
func TestDrainAndCooling(t *testing.T) {
	s := New(10, 4)
	for range 3 {
		s.RouteKey("a")
	}
	s.RouteKey("")
	if c := s.Drain(); len(c) != 1 || c["a"] != 3 {
		t.Fatalf("drained %v, want a:3", c)
	}
	if c := s.Drain(); len(c) != 0 {
		t.Fatalf("second drain %v", c)
	}
	s.Update(map[string]int64{"a": 300}, 10) // 30/s
	if s.K("a") != 3 || !s.Hot() {
		t.Fatalf("k = %d at 30/s, want 3", s.K("a"))
	}
	for range 3 {
		s.Update(nil, 10)
	}
	if s.K("a") != 1 || s.Hot() {
		t.Fatalf("quiet adapter kept k = %d", s.K("a"))
	}
}
