package scheduler

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/graft-ai/graft/engine/kvcache"
)

// fakeClock advances by one step time per Schedule, so waits are deterministic.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// adapterRun drives requests for many adapters through a scheduler with few
// slots, checks the slot limit every step and returns each request's wait in
// steps from arrival to admission.
func adapterRun(t *testing.T, adapters, slots, perAdapter int, seed uint64) (waits map[uint64]int, maxWait int, steps int) {
	t.Helper()
	clock := &fakeClock{t: time.Unix(0, 0)}
	const stepTime = 20 * time.Millisecond
	cfg := Config{MaxNumSeqs: 64, MaxNumBatchedTokens: 256, MaxModelLen: 512,
		MaxActiveAdapters: slots, AdapterCycle: 2 * time.Second, Now: clock.now}
	pool := kvcache.NewBlockPool(4096, 16)
	s, err := New(cfg, pool)
	if err != nil {
		t.Fatal(err)
	}
	run := newFakeRunner(cfg, pool)
	rng := rand.New(rand.NewPCG(seed, 1))
	type pending struct {
		r       *Request
		arrival int
	}
	var queue []pending
	id := uint64(0)
	for a := 0; a < adapters; a++ {
		for range perAdapter {
			id++
			queue = append(queue, pending{&Request{ID: id, NumPromptTokens: 8 + rng.IntN(40),
				MaxTokens: 10 + rng.IntN(60), Adapter: fmt.Sprintf("a%03d", a)}, rng.IntN(400)})
		}
	}
	arrivedAt, admittedAt := map[uint64]int{}, map[uint64]int{}
	done := 0
	for steps = 0; done < len(queue); steps++ {
		for _, p := range queue {
			if p.arrival == steps {
				if err := s.Add(p.r); err != nil {
					t.Fatal(err)
				}
				arrivedAt[p.r.ID] = steps
			}
		}
		out := s.Schedule()
		if len(out.ActiveAdapters) > slots {
			t.Fatalf("step %d: %d adapters active, %d slots", steps, len(out.ActiveAdapters), slots)
		}
		distinct := map[string]bool{}
		for _, sc := range out.Scheduled {
			distinct[sc.Adapter] = true
			if _, ok := admittedAt[sc.ID]; !ok {
				admittedAt[sc.ID] = steps
			}
		}
		if len(distinct) > slots {
			t.Fatalf("step %d schedules %d adapters with %d slots", steps, len(distinct), slots)
		}
		results, err := run.execute(out)
		if err != nil {
			t.Fatal(err)
		}
		done += len(s.Update(out, results))
		clock.t = clock.t.Add(stepTime)
		if steps > 200000 {
			t.Fatal("requests did not finish: starvation or deadlock")
		}
	}
	waits = map[uint64]int{}
	for id, a := range arrivedAt {
		waits[id] = admittedAt[id] - a
		maxWait = max(maxWait, waits[id])
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	if pool.NumFree() != pool.NumTotal() {
		t.Fatalf("%d blocks leaked", pool.NumTotal()-pool.NumFree())
	}
	return waits, maxWait, steps
}

// TestAdapterExchangeBoundsWaiting: 200 adapters, 8 slots. Every request
// finishes, at most 8 adapters run at once, and no adapter starves: the longest
// wait stays within the bound the exchange gives (each of the 25 rounds of 8
// slots lasts about one cycle plus the time to drain).
func TestAdapterExchangeBoundsWaiting(t *testing.T) {
	waits, maxWait, steps := adapterRun(t, 200, 8, 3, 42)
	var sum int
	for _, w := range waits {
		sum += w
	}
	t.Logf("200 adapters x 3 requests, 8 slots: %d steps, mean wait %.1f steps, max wait %d steps (%.1f s at 20 ms/step)",
		steps, float64(sum)/float64(len(waits)), maxWait, float64(maxWait)*0.02)
	cycleSteps, drainSteps := 100, 70 // 2 s at 20 ms; the longest request
	if bound := (200/8 + 1) * (cycleSteps + drainSteps); maxWait > bound {
		t.Errorf("max wait %d steps exceeds the adapter-exchange bound %d", maxWait, bound)
	}
}

// TestHotAdapterDoesNotStarveOthers: one adapter with a constant stream of
// requests fills its slot forever unless the exchange makes it yield.
func TestHotAdapterDoesNotStarveOthers(t *testing.T) {
	clock := &fakeClock{t: time.Unix(0, 0)}
	cfg := Config{MaxNumSeqs: 16, MaxNumBatchedTokens: 64, MaxModelLen: 128,
		MaxActiveAdapters: 1, AdapterCycle: time.Second, Now: clock.now}
	pool := kvcache.NewBlockPool(512, 16)
	s, _ := New(cfg, pool)
	run := newFakeRunner(cfg, pool)
	id := uint64(0)
	add := func(adapter string) uint64 {
		id++
		if err := s.Add(&Request{ID: id, NumPromptTokens: 4, MaxTokens: 20, Adapter: adapter}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	add("hot")
	cold := add("cold")
	for step := 0; step < 2000; step++ {
		if step%5 == 0 {
			add("hot")
		}
		out := s.Schedule()
		for _, sc := range out.Scheduled {
			if sc.ID == cold {
				t.Logf("cold adapter admitted at step %d", step)
				return
			}
		}
		results, err := run.execute(out)
		if err != nil {
			t.Fatal(err)
		}
		s.Update(out, results)
		clock.t = clock.t.Add(10 * time.Millisecond)
	}
	t.Fatal("a steady stream for one adapter starved the other for 2000 steps")
}

func TestBaseModelNeedsNoSlot(t *testing.T) {
	cfg := Config{MaxNumSeqs: 8, MaxNumBatchedTokens: 64, MaxModelLen: 64, MaxActiveAdapters: 1}
	pool := kvcache.NewBlockPool(64, 16)
	s, _ := New(cfg, pool)
	for i, a := range []string{"x", "", "", "y"} {
		if err := s.Add(&Request{ID: uint64(i + 1), NumPromptTokens: 2, MaxTokens: 4, Adapter: a}); err != nil {
			t.Fatal(err)
		}
	}
	out := s.Schedule()
	var got []uint64
	for _, sc := range out.Scheduled {
		got = append(got, sc.ID)
	}
	if fmt.Sprint(got) != "[1 2 3]" || fmt.Sprint(out.ActiveAdapters) != "[x]" {
		t.Fatalf("scheduled %v active %v; want base requests beside adapter x and y waiting", got, out.ActiveAdapters)
	}
}
