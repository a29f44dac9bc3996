package deploy

import (
	"context"
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/internal/testserver"
)

func newRecords(t *testing.T) Records {
	t.Helper()
	srv := testserver.RedisAOF(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	return Records{Store: state.New(rdb)}
}

func TestRecordsRefuseIllegalTransitions(t *testing.T) {
	rs := newRecords(t)
	ctx := context.Background()
	spec, err := DecodeSpec([]byte(`{"base_model": "testdata", "cooldown": "2s"}`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := rs.Create(ctx, "d", spec)
	if err != nil || r.Status != Pending || r.Generation != 1 || r.Spec.Cooldown != spec.Cooldown {
		t.Fatalf("Create = %+v, %v", r, err)
	}
	if _, err := rs.Create(ctx, "d", spec); !errors.Is(err, ErrExists) {
		t.Fatalf("second Create: %v", err)
	}
	if _, err := rs.SetStatus(ctx, "d", nil, Standby, "min_replicas is 0"); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.SetStatus(ctx, "d", nil, Stopped, "stopped by the user"); err != nil {
		t.Fatal(err)
	}
	// Stopped never wakes: refused, with a reason, and nothing written.
	_, err = rs.SetStatus(ctx, "d", nil, Initializing, "woken")
	if !IsTransitionError(err) {
		t.Fatalf("Stopped -> Initializing: %v", err)
	}
	if r, _ := rs.Get(ctx, "d"); r.Status != Stopped {
		t.Fatalf("refused change was written: %+v", r)
	}
	// A decision made on a stale read is not applied.
	var se *StaleError
	if _, err := rs.SetStatus(ctx, "d", []Status{Standby}, Initializing, "woken"); !errors.As(err, &se) {
		t.Fatalf("stale SetStatus: %v", err)
	}
	evs, err := rs.Events(ctx, "d", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []Status
	for _, e := range evs {
		got = append(got, e.Status)
	}
	if len(got) != 3 || got[0] != Pending || got[1] != Standby || got[2] != Stopped || evs[2].Previous != Standby || evs[2].Reason != "stopped by the user" {
		t.Fatalf("events %+v", evs)
	}
}
