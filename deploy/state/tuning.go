package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Fine-tuning keeps its uploaded files and jobs here as JSON records the
// finetune packages define; this file owns only the keys and the indexes:
//
//	tuning:file:{id}          string: a file's JSON record (no TTL)
//	tuning:files:{tenant}     sorted set: the tenant's file ids by creation µs
//	tuning:job:{id}           string: a job's JSON record (no TTL)
//	tuning:jobs:{tenant}      sorted set: the tenant's job ids by creation µs
//	tuning:jobs:all           sorted set: every job id by creation µs (the console's)
//	tuning:jobs:active        sorted set: ids of jobs not yet finished, oldest first
//	tuning:job:{id}:events    stream of the job's events (field "event": JSON),
//	                          capped near 10000 entries
//	tuning:job:{id}:lease     string: the runner training the job, with a TTL
//	                          it refreshes; a job whose lease lapsed is resumed
const (
	tuningFilePrefix = "tuning:file:"
	tuningFiles      = "tuning:files:"
	tuningJobPrefix  = "tuning:job:"
	tuningJobs       = "tuning:jobs:"
	tuningActive     = "tuning:jobs:active"
	tuningAll        = "tuning:jobs:all"
	maxTuningEvents  = 10000
)

// ErrNoRecord is returned for a fine-tuning file or job id Redis does not hold.
var ErrNoRecord = errors.New("state: no such record")

func tuningJobKey(id string) string    { return tuningJobPrefix + id }
func tuningEventsKey(id string) string { return tuningJobPrefix + id + ":events" }
func tuningLeaseKey(id string) string  { return tuningJobPrefix + id + ":lease" }

// PutTuningFile stores a file record and indexes it under its tenant.
func (s *Store) PutTuningFile(ctx context.Context, id, tenant string, created time.Time, rec []byte) error {
	_, err := s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.Set(ctx, tuningFilePrefix+id, rec, 0)
		tx.ZAdd(ctx, tuningFiles+tenant, redis.Z{Score: float64(created.UnixMicro()), Member: id})
		return nil
	})
	return err
}

// TuningFile returns a file record, or ErrNoRecord.
func (s *Store) TuningFile(ctx context.Context, id string) ([]byte, error) {
	return s.get(ctx, tuningFilePrefix+id)
}

// TuningFiles returns the tenant's file records, newest first.
func (s *Store) TuningFiles(ctx context.Context, tenant string) ([][]byte, error) {
	return s.indexed(ctx, tuningFiles+tenant, tuningFilePrefix)
}

// DeleteTuningFile removes a file record and its index entry.
func (s *Store) DeleteTuningFile(ctx context.Context, id, tenant string) error {
	_, err := s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		tx.Del(ctx, tuningFilePrefix+id)
		tx.ZRem(ctx, tuningFiles+tenant, id)
		return nil
	})
	return err
}

// PutTuningJob stores a new job record, indexed under its tenant and, while
// active, in the runners' queue.
func (s *Store) PutTuningJob(ctx context.Context, id, tenant string, created time.Time, rec []byte, active bool) error {
	_, err := s.rdb.TxPipelined(ctx, func(tx redis.Pipeliner) error {
		score := float64(created.UnixMicro())
		tx.Set(ctx, tuningJobKey(id), rec, 0)
		tx.ZAdd(ctx, tuningJobs+tenant, redis.Z{Score: score, Member: id})
		tx.ZAdd(ctx, tuningAll, redis.Z{Score: score, Member: id})
		if active {
			tx.ZAdd(ctx, tuningActive, redis.Z{Score: score, Member: id})
		}
		return nil
	})
	return err
}

// TuningJob returns a job record, or ErrNoRecord.
func (s *Store) TuningJob(ctx context.Context, id string) ([]byte, error) {
	return s.get(ctx, tuningJobKey(id))
}

// UpdateTuningJob applies f to the job's record atomically (optimistic
// locking: f may run more than once). f returns the new record and whether
// the job is still active; an error from f leaves the record unchanged.
func (s *Store) UpdateTuningJob(ctx context.Context, id string, f func(rec []byte) ([]byte, bool, error)) ([]byte, error) {
	key := tuningJobKey(id)
	var out []byte
	for range 50 {
		err := s.rdb.Watch(ctx, func(tx *redis.Tx) error {
			old, err := tx.Get(ctx, key).Bytes()
			if errors.Is(err, redis.Nil) {
				return ErrNoRecord
			}
			if err != nil {
				return err
			}
			rec, active, err := f(old)
			if err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, key, rec, 0)
				if !active {
					p.ZRem(ctx, tuningActive, id)
				}
				return nil
			})
			out = rec
			return err
		}, key)
		if !errors.Is(err, redis.TxFailedErr) {
			return out, err
		}
	}
	return nil, fmt.Errorf("state: job %s: too many concurrent updates", id)
}

// TuningJobs returns the tenant's job records, newest first.
func (s *Store) TuningJobs(ctx context.Context, tenant string) ([][]byte, error) {
	return s.indexed(ctx, tuningJobs+tenant, tuningJobPrefix)
}

// RecentTuningJobs returns the newest n job records of every tenant.
func (s *Store) RecentTuningJobs(ctx context.Context, n int64) ([][]byte, error) {
	return s.indexedN(ctx, tuningAll, tuningJobPrefix, n)
}

// AllTuningEvents returns a job's whole event stream, oldest first.
func (s *Store) AllTuningEvents(ctx context.Context, id string) ([]TuningEvent, error) {
	msgs, err := s.rdb.XRange(ctx, tuningEventsKey(id), "-", "+").Result()
	if err != nil {
		return nil, err
	}
	out := make([]TuningEvent, 0, len(msgs))
	for _, m := range msgs {
		v, _ := m.Values["event"].(string)
		out = append(out, TuningEvent{ID: m.ID, Data: []byte(v)})
	}
	return out, nil
}

// ActiveTuningJobs returns the ids of unfinished jobs, oldest first.
func (s *Store) ActiveTuningJobs(ctx context.Context) ([]string, error) {
	return s.rdb.ZRange(ctx, tuningActive, 0, -1).Result()
}

// AddTuningEvent appends an event to the job's stream and returns its id.
func (s *Store) AddTuningEvent(ctx context.Context, id string, ev []byte) (string, error) {
	return s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: tuningEventsKey(id), MaxLen: maxTuningEvents, Approx: true,
		Values: []any{"event", ev}}).Result()
}

// TuningEvent is one entry of a job's event stream.
type TuningEvent struct {
	ID   string // the stream id, MS-SEQ
	Data []byte
}

// TuningEvents returns up to limit events older than before ("" for the
// newest), newest first.
func (s *Store) TuningEvents(ctx context.Context, id, before string, limit int64) ([]TuningEvent, error) {
	start := "+"
	if before != "" {
		start = "(" + before
	}
	msgs, err := s.rdb.XRevRangeN(ctx, tuningEventsKey(id), start, "-", limit).Result()
	if err != nil {
		return nil, err
	}
	out := make([]TuningEvent, 0, len(msgs))
	for _, m := range msgs {
		v, _ := m.Values["event"].(string)
		out = append(out, TuningEvent{ID: m.ID, Data: []byte(v)})
	}
	return out, nil
}

// AcquireTuningLease takes the job for owner unless another owner holds it.
func (s *Store) AcquireTuningLease(ctx context.Context, id, owner string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, tuningLeaseKey(id), owner, ttl).Result()
	return ok, err
}

// renewLease extends a lease only while owner holds it.
var renewLease = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)

// releaseLease deletes a lease only while owner holds it.
var releaseLease = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1]) end return 0`)

// RenewTuningLease extends owner's lease; false means owner lost it.
func (s *Store) RenewTuningLease(ctx context.Context, id, owner string, ttl time.Duration) (bool, error) {
	n, err := renewLease.Run(ctx, s.rdb, []string{tuningLeaseKey(id)}, owner, strconv.FormatInt(ttl.Milliseconds(), 10)).Int()
	return n == 1, err
}

// ReleaseTuningLease gives the job up, so another runner may take it at once.
func (s *Store) ReleaseTuningLease(ctx context.Context, id, owner string) error {
	return releaseLease.Run(ctx, s.rdb, []string{tuningLeaseKey(id)}, owner).Err()
}

func (s *Store) get(ctx context.Context, key string) ([]byte, error) {
	b, err := s.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNoRecord
	}
	return b, err
}

// indexed reads the records an index names, newest first, skipping ids whose
// record is gone.
func (s *Store) indexed(ctx context.Context, index, prefix string) ([][]byte, error) {
	return s.indexedN(ctx, index, prefix, 0)
}

// indexedN reads the newest n (0: all) records an index names.
func (s *Store) indexedN(ctx context.Context, index, prefix string, n int64) ([][]byte, error) {
	ids, err := s.rdb.ZRevRange(ctx, index, 0, n-1).Result()
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = prefix + id
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, v := range vals {
		if s, ok := v.(string); ok {
			out = append(out, []byte(s))
		}
	}
	return out, nil
}
