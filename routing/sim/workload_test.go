package sim

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestShippedLengthsFollowTheirQuantiles: draws from the shipped table
// land on its quantiles and average to its mean, and the mean is the
// trace's (1120 and 210 tokens over the rows the table was fitted to).
func TestShippedLengthsFollowTheirQuantiles(t *testing.T) {
	l, err := LoadLengths("")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		d         Empirical
		traceMean float64
	}{{"prompt", l.Prompt, 1120.3}, {"output", l.Output, 210.0}} {
		r := rand.New(rand.NewPCG(1, 2))
		xs := make([]float64, 200000)
		sum := 0.0
		for i := range xs {
			xs[i] = float64(c.d.Draw(r))
			sum += xs[i]
		}
		slices.Sort(xs)
		// The share of draws at most each tabled length is its p (the
		// CDF, not the inverse: some segments are steep, 454 to 960
		// tokens in 5%).
		for _, q := range c.d.Quantiles[1 : len(c.d.Quantiles)-1] {
			n, _ := slices.BinarySearch(xs, q[1]+0.5)
			if got := float64(n) / float64(len(xs)); math.Abs(got-q[0]) > 0.005 {
				t.Errorf("%s: %.4f of draws at most %g tokens, table p %g", c.name, got, q[1], q[0])
			}
		}
		mean := sum / float64(len(xs))
		if m := c.d.Mean(); math.Abs(mean-m) > 0.01*m {
			t.Errorf("%s: draws average %.1f, Mean() %.1f", c.name, mean, m)
		}
		if math.Abs(c.d.Mean()-c.traceMean) > 0.02*c.traceMean {
			t.Errorf("%s: table mean %.1f, trace rows %.1f", c.name, c.d.Mean(), c.traceMean)
		}
	}
}

// TestClippedLengths: a clip moves draws and the mean with them (graft
// bench fleet clips to a small model).
func TestClippedLengths(t *testing.T) {
	d := Empirical{Quantiles: [][2]float64{{0, 0}, {1, 100}}, Min: 10, Max: 60}
	if m := d.Mean(); math.Abs(m-(10*0.1+35*0.5+60*0.4)) > 0.01 {
		t.Errorf("mean %.3f", m)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		if x := d.Draw(r); x < 10 || x > 60 {
			t.Fatalf("drew %d outside [10, 60]", x)
		}
	}
}

func TestLoadLengthsRejects(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"no-ends":     `{"prompt": {"quantiles": [[0.1, 5], [0.9, 9]], "min": 1, "max": 9}, "output": {"quantiles": [[0, 1], [1, 2]], "min": 1, "max": 2}}`,
		"falling":     `{"prompt": {"quantiles": [[0, 5], [0.5, 4], [1, 9]], "min": 1, "max": 9}, "output": {"quantiles": [[0, 1], [1, 2]], "min": 1, "max": 2}}`,
		"same-p":      `{"prompt": {"quantiles": [[0, 5], [0, 6], [1, 9]], "min": 1, "max": 9}, "output": {"quantiles": [[0, 1], [1, 2]], "min": 1, "max": 2}}`,
		"min-0":       `{"prompt": {"quantiles": [[0, 5], [1, 9]], "min": 0, "max": 9}, "output": {"quantiles": [[0, 1], [1, 2]], "min": 1, "max": 2}}`,
		"old-format":  `{"prompt": {"mean": 69.5, "std": 243.1, "min": 1, "max": 4096}, "output": {"mean": 214.5, "std": 235.3, "min": 1, "max": 2048}}`,
		"not-json":    `{`,
		"max-low":     `{"prompt": {"quantiles": [[0, 5], [1, 9]], "min": 5, "max": 4}, "output": {"quantiles": [[0, 1], [1, 2]], "min": 1, "max": 2}}`,
		"no-output":   `{"prompt": {"quantiles": [[0, 5], [1, 9]], "min": 1, "max": 9}}`,
		"negative-tk": `{"prompt": {"quantiles": [[0, -5], [1, 9]], "min": 1, "max": 9}, "output": {"quantiles": [[0, 1], [1, 2]], "min": 1, "max": 2}}`,
	} {
		p := filepath.Join(dir, name+".json")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadLengths(p); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// TestLoadServiceRejectsTinyStepBudget: a step budget at most max_batch
// leaves no room for a prompt chunk beside the decodes.
func TestLoadServiceRejectsTinyStepBudget(t *testing.T) {
	p := filepath.Join(t.TempDir(), "service.json")
	body := `{"step_base_s": 0.03, "step_per_seq_s": 0.02, "slots": 8, "host_cache": 64, "max_batch": 16, "kv_tokens": 16384, "max_batched_tokens": 16}`
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadService(p); err == nil {
		t.Fatal("max_batched_tokens 16 with max_batch 16 loaded")
	}
}
