package openai

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// run is one request's engine stream. The engine generates the request's n
// sequences on it, each message naming its sequence in index; a sequence is
// done with its message carrying a finish reason, the run when all n are.
type run struct {
	stream       grpc.ServerStreamingClient[enginev1.GenerateResponse]
	pending      *enginev1.GenerateResponse // the first message, read by start
	finished     []bool
	left         int
	promptTokens int
	cancel       context.CancelFunc
}

// generate opens the engine stream and reads its first message, so a refused
// request is an HTTP error rather than a broken stream. An engine that
// restarted has forgotten its adapters: on NotFound for an adapter the loader
// forgets it, loads it again and the request is retried once.
func (s *Server) generate(ctx context.Context, r *enginev1.GenerateRequest) (grpc.ServerStreamingClient[enginev1.GenerateResponse], *enginev1.GenerateResponse, error) {
	for attempt := 0; ; attempt++ {
		st, err := s.engine.Generate(ctx, r)
		var first *enginev1.GenerateResponse
		if err == nil {
			first, err = st.Recv()
		}
		ids := r.GetMergedAdapters().GetIds()
		if r.AdapterId != "" {
			ids = []string{r.AdapterId}
		}
		if err == nil || len(ids) == 0 || attempt > 0 || status.Code(err) != codes.NotFound {
			return st, first, err
		}
		for _, id := range ids {
			s.adapter.forget(id, err)
			if lerr := s.adapter.ensure(ctx, id); lerr != nil {
				return nil, nil, lerr
			}
		}
	}
}

// start sends the request, n sequences in one call: the engine prefills the
// prompt once and, when seeded, gives sequence i the seed+i itself.
func (s *Server) start(ctx context.Context, req *enginev1.GenerateRequest, n int) (*run, error) {
	ctx, cancel := context.WithCancel(ctx)
	req.N = uint32(n)
	st, first, err := s.generate(ctx, req)
	if err != nil {
		cancel()
		return nil, err
	}
	return &run{stream: st, pending: first, finished: make([]bool, n), left: n,
		promptTokens: len(first.PromptTokenIds), cancel: cancel}, nil
}

// next returns the stream's next message, or nil once every sequence has
// finished. A message for an unknown or finished sequence, or a stream that
// ends early, is an error: the engine broke its side of the contract.
func (r *run) next() (*enginev1.GenerateResponse, error) {
	if r.left == 0 {
		return nil, nil
	}
	msg := r.pending
	r.pending = nil
	if msg == nil {
		var err error
		if msg, err = r.stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("the engine ended the stream with %d of %d sequences unfinished", r.left, len(r.finished))
			}
			return nil, err
		}
	}
	i := int(msg.Index)
	if i >= len(r.finished) || r.finished[i] {
		return nil, fmt.Errorf("the engine sent a message for sequence %d, which is not running", i)
	}
	if msg.FinishReason != enginev1.FinishReason_FINISH_REASON_UNSPECIFIED {
		r.finished[i] = true
		r.left--
	}
	return msg, nil
}

// close ends the engine call, cancelling whatever sequences still run. Once every sequence has finished the engine ends its
// stream by itself: reading that end lets the call finish OK instead of being
// recorded as cancelled (an error span in every request's trace). The wait
// is bounded in case the engine does not end it.
func (r *run) close() {
	if r.left == 0 {
		t := time.AfterFunc(2*time.Second, r.cancel)
		_, _ = r.stream.Recv()
		t.Stop()
	}
	r.cancel()
}
