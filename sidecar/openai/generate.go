package openai

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// update is one engine message for choice index, or that choice's error.
type update struct {
	index int
	msg   *enginev1.GenerateResponse
	err   error
}

// run is the n sequences of one request, each its own engine stream.
type run struct {
	updates      <-chan update
	promptTokens int
	cancel       context.CancelFunc
}

// start opens n streams and waits for each one's first message, so a refused
// request is an HTTP error rather than a broken stream. A seeded request gives
// choice i the seed+i, so choices differ yet repeat run to run.
// generate opens one engine stream. An engine that restarted has forgotten its
// adapters: on NotFound for an adapter the loader forgets it, loads it again and
// the request is retried once.
func (s *Server) generate(ctx context.Context, r *enginev1.GenerateRequest) (grpc.ServerStreamingClient[enginev1.GenerateResponse], *enginev1.GenerateResponse, error) {
	for attempt := 0; ; attempt++ {
		st, err := s.engine.Generate(ctx, r)
		var first *enginev1.GenerateResponse
		if err == nil {
			first, err = st.Recv()
		}
		if err == nil || r.AdapterId == "" || attempt > 0 || status.Code(err) != codes.NotFound {
			return st, first, err
		}
		s.adapter.forget(r.AdapterId, err)
		if lerr := s.adapter.ensure(ctx, r.AdapterId); lerr != nil {
			return nil, nil, lerr
		}
	}
}

func (s *Server) start(ctx context.Context, req *enginev1.GenerateRequest, n int) (*run, error) {
	ctx, cancel := context.WithCancel(ctx)
	streams := make([]grpc.ServerStreamingClient[enginev1.GenerateResponse], n)
	firsts := make([]*enginev1.GenerateResponse, n)
	for i := range n {
		r := proto.Clone(req).(*enginev1.GenerateRequest)
		if r.Sampling.Seed != nil {
			seed := r.Sampling.GetSeed() + uint64(i)
			r.Sampling.Seed = &seed
		}
		st, first, err := s.generate(ctx, r)
		firsts[i] = first
		if err != nil {
			cancel()
			return nil, err
		}
		streams[i] = st
	}
	ch := make(chan update, 16*n)
	for i, st := range streams {
		go relay(ctx, i, firsts[i], st, ch)
	}
	return &run{updates: fanIn(ch, n), promptTokens: len(firsts[0].PromptTokenIds), cancel: cancel}, nil
}

// close cancels whatever still runs and waits for the relays to finish.
func (r *run) close() {
	r.cancel()
	for range r.updates {
	}
}

// relay forwards one stream's messages until its final one (finish reason set)
// or an error; a stream that ends without a finish reason is an error.
func relay(ctx context.Context, i int, first *enginev1.GenerateResponse, st grpc.ServerStreamingClient[enginev1.GenerateResponse], ch chan<- update) {
	msg := first
	for {
		select {
		case ch <- update{index: i, msg: msg}:
		case <-ctx.Done():
			ch <- update{index: i, err: ctx.Err()}
			return
		}
		if msg.FinishReason != enginev1.FinishReason_FINISH_REASON_UNSPECIFIED {
			ch <- update{index: i}
			return
		}
		var err error
		if msg, err = st.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("the engine ended the stream without a finish reason")
			}
			ch <- update{index: i, err: err}
			return
		}
	}
}

// fanIn passes updates on until every choice has sent its end marker (an update
// with neither msg nor err) or an error.
func fanIn(in <-chan update, n int) <-chan update {
	out := make(chan update)
	go func() {
		defer close(out)
		for n > 0 {
			u := <-in
			if u.msg == nil {
				n--
				if u.err == nil {
					continue
				}
			}
			out <- u
		}
	}()
	return out
}
