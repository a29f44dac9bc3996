package state

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Request rates per adapter, shared by every gateway so that they agree on
// which adapters are hot:
//
//	rate:{deployment}:{unix second}   hash: adapter → requests in that second
//
// Each bucket lives a minute; readers sum the buckets of the window they want.
const (
	ratePrefix = "rate:"
	rateTTL    = time.Minute
)

func rateKey(deployment string, sec int64) string {
	return ratePrefix + deployment + ":" + strconv.FormatInt(sec, 10)
}

// AddAdapterRequests adds counts (adapter → requests) to the bucket of second
// sec of a deployment.
func (s *Store) AddAdapterRequests(ctx context.Context, deployment string, sec int64, counts map[string]int64) error {
	if len(counts) == 0 {
		return nil
	}
	key := rateKey(deployment, sec)
	p := s.rdb.Pipeline()
	for a, n := range counts {
		p.HIncrBy(ctx, key, a, n)
	}
	p.Expire(ctx, key, rateTTL)
	_, err := p.Exec(ctx)
	return err
}

// AdapterRequests sums, per adapter, the requests of a deployment in the
// seconds [from, to].
func (s *Store) AdapterRequests(ctx context.Context, deployment string, from, to int64) (map[string]int64, error) {
	p := s.rdb.Pipeline()
	var cmds []*redis.MapStringStringCmd
	for sec := from; sec <= to; sec++ {
		cmds = append(cmds, p.HGetAll(ctx, rateKey(deployment, sec)))
	}
	if _, err := p.Exec(ctx); err != nil {
		return nil, err
	}
	sum := map[string]int64{}
	for _, c := range cmds {
		h, _ := c.Result()
		for a, v := range h {
			n, err := strconv.ParseInt(v, 10, 64)
			if err == nil {
				sum[a] += n
			}
		}
	}
	return sum, nil
}
