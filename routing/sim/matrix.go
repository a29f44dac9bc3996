package sim

import (
	"context"
	"runtime"

	"golang.org/x/sync/errgroup"
)

// Scenario is one fleet shape of a matrix.
type Scenario struct {
	Replicas, Adapters int
	Bursty             bool
}

// RunMatrix runs every policy on every scenario, in parallel over the
// cores, and returns results in scenario, then policy, order. Policies are
// parsed afresh per run: they hold state.
func RunMatrix(ctx context.Context, base Config, scenarios []Scenario, policies []string, progress func(Result)) ([]Result, error) {
	for _, p := range policies {
		if _, err := ParsePolicy(p); err != nil {
			return nil, err
		}
	}
	out := make([]Result, len(scenarios)*len(policies))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, s := range scenarios {
		for j, name := range policies {
			g.Go(func() error {
				if err := ctx.Err(); err != nil {
					return err
				}
				c := base
				c.Replicas, c.Adapters, c.Bursty = s.Replicas, s.Adapters, s.Bursty
				p, _ := ParsePolicy(name)
				r, err := Run(c, p)
				if err != nil {
					return err
				}
				out[i*len(policies)+j] = r
				if progress != nil {
					progress(r)
				}
				return nil
			})
		}
	}
	return out, g.Wait()
}
