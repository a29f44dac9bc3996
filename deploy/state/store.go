package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Store reads and writes the shared state in one Redis. Its methods are safe
// for concurrent use; each call is bounded only by its ctx, so callers on a
// request's path must not call it (a pod writes from a background poller).
type Store struct {
	rdb redis.UniversalClient
	log *slog.Logger
}

// New returns a Store over rdb; the caller keeps ownership of rdb. Give rdb
// ContextTimeoutEnabled (Open does) when callers bound calls with a ctx
// deadline: without it go-redis waits out its own read timeout and retries.
func New(rdb redis.UniversalClient) *Store {
	return &Store{rdb: rdb, log: slog.Default()}
}

// Open connects to the Redis at url (redis://[user:pass@]host:port[/db] or
// rediss://...); Close closes the connection. Nothing is dialed until the
// first call, so a Redis that is down now does not stop a pod from starting.
func Open(url string) (*Store, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err) // not the URL itself: it may hold a password
	}
	opts.ContextTimeoutEnabled = true
	return New(redis.NewClient(opts)), nil
}

// Close closes the underlying client.
func (s *Store) Close() error { return s.rdb.Close() }

func checkReplica(deployment, id string) error {
	if err := CheckName(deployment); err != nil {
		return fmt.Errorf("deployment %w", err)
	}
	if err := CheckName(id); err != nil {
		return fmt.Errorf("replica id %w", err)
	}
	return nil
}

// PutReplica rewrites r's hash whole (so fields an older writer left behind do
// not linger) and sets its TTL. It reports whether the hash was absent before:
// a new replica, or one whose key expired or that a Redis restart wiped, which
// the writer announces as replica.up. r.Adapters is not written; see
// SetResidency.
func (s *Store) PutReplica(ctx context.Context, r Replica, ttl time.Duration) (created bool, err error) {
	if err := checkReplica(r.Deployment, r.ID); err != nil {
		return false, err
	}
	if ttl <= 0 {
		return false, fmt.Errorf("replica TTL %s must be positive", ttl)
	}
	if r.Updated.IsZero() {
		r.Updated = time.Now()
	}
	key := ReplicaKey(r.Deployment, r.ID)
	var existed *redis.IntCmd
	_, err = s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		existed = tx.Exists(ctx, key)
		tx.Del(ctx, key)
		tx.HSet(ctx, key, r.fields())
		tx.PExpire(ctx, key, ttl)
		return nil
	})
	if err != nil {
		return false, err
	}
	return existed.Val() == 0, nil
}

// SetResidency replaces the replica's adapter set with adapters and sets its
// TTL. An empty list deletes the set, since Redis has no empty sets.
func (s *Store) SetResidency(ctx context.Context, deployment, id string, adapters []string, ttl time.Duration) error {
	if err := checkReplica(deployment, id); err != nil {
		return err
	}
	if ttl <= 0 {
		return fmt.Errorf("residency TTL %s must be positive", ttl)
	}
	key := ResidencyKey(deployment, id)
	_, err := s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.Del(ctx, key)
		if len(adapters) > 0 {
			tx.SAdd(ctx, key, toAny(adapters)...)
			tx.PExpire(ctx, key, ttl)
		}
		return nil
	})
	return err
}

// AddAdapter adds one adapter to the replica's set and refreshes its TTL.
func (s *Store) AddAdapter(ctx context.Context, deployment, id, adapter string, ttl time.Duration) error {
	if err := checkReplica(deployment, id); err != nil {
		return err
	}
	if ttl <= 0 {
		return fmt.Errorf("residency TTL %s must be positive", ttl)
	}
	key := ResidencyKey(deployment, id)
	_, err := s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.SAdd(ctx, key, adapter)
		tx.PExpire(ctx, key, ttl)
		return nil
	})
	return err
}

// RemoveAdapter removes one adapter from the replica's set.
func (s *Store) RemoveAdapter(ctx context.Context, deployment, id, adapter string) error {
	if err := checkReplica(deployment, id); err != nil {
		return err
	}
	return s.rdb.SRem(ctx, ResidencyKey(deployment, id), adapter).Err()
}

// DeleteReplica deletes both of the replica's keys.
func (s *Store) DeleteReplica(ctx context.Context, deployment, id string) error {
	if err := checkReplica(deployment, id); err != nil {
		return err
	}
	return s.rdb.Del(ctx, ReplicaKey(deployment, id), ResidencyKey(deployment, id)).Err()
}

// GetReplica reads one replica; ok is false when its hash does not exist.
func (s *Store) GetReplica(ctx context.Context, deployment, id string) (r Replica, ok bool, err error) {
	if err := checkReplica(deployment, id); err != nil {
		return Replica{}, false, err
	}
	rs, err := s.read(ctx, []string{ReplicaKey(deployment, id)})
	if err != nil || len(rs) == 0 {
		return Replica{}, false, err
	}
	return rs[0], true, nil
}

// Replicas returns the replicas of one deployment, in no particular order.
func (s *Store) Replicas(ctx context.Context, deployment string) ([]Replica, error) {
	if err := CheckName(deployment); err != nil {
		return nil, fmt.Errorf("deployment %w", err)
	}
	return s.scan(ctx, ReplicaKey(deployment, "*"))
}

// AllReplicas returns the replicas of every deployment, in no particular order.
func (s *Store) AllReplicas(ctx context.Context) ([]Replica, error) {
	return s.scan(ctx, replicaPrefix+"*")
}

// scanBatch is how many keys one SCAN step asks for and one pipeline reads.
const scanBatch = 256

func (s *Store) scan(ctx context.Context, pattern string) ([]Replica, error) {
	var out []Replica
	var cursor uint64
	for {
		keys, next, err := s.rdb.Scan(ctx, cursor, pattern, scanBatch).Result()
		if err != nil {
			return nil, err
		}
		rs, err := s.read(ctx, keys)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
		if cursor = next; cursor == 0 {
			return out, nil
		}
	}
}

// read fetches the hashes and residency sets of keys (replica keys) in one
// round trip. Keys that vanished in between are skipped; so is a hash that
// does not decode, with a warning, so one bad entry does not blind a reader to
// every other replica.
func (s *Store) read(ctx context.Context, keys []string) ([]Replica, error) {
	type entry struct {
		deployment, id string
		hash           *redis.MapStringStringCmd
		set            *redis.StringSliceCmd
	}
	var entries []entry
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			dep, id, ok := parseReplicaKey(k)
			if !ok {
				continue // not ours: written by hand or by something else
			}
			entries = append(entries, entry{dep, id, p.HGetAll(ctx, k), p.SMembers(ctx, ResidencyKey(dep, id))})
		}
		return nil
	})
	if err != nil && !isReplyError(err) {
		return nil, err // the connection, not one entry
	}
	var out []Replica
	for _, e := range entries {
		if err := errors.Join(e.hash.Err(), e.set.Err()); err != nil {
			s.log.Warn("skipping a replica entry Redis refused to read", "key", ReplicaKey(e.deployment, e.id), "err", err)
			continue
		}
		h := e.hash.Val()
		if len(h) == 0 {
			continue
		}
		r, err := decodeReplica(e.deployment, e.id, h, e.set.Val())
		if err != nil {
			s.log.Warn("skipping a replica entry that does not decode", "err", err)
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// isReplyError tells a reply about one command (WRONGTYPE on a key someone
// else wrote) from a failed connection.
func isReplyError(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }
