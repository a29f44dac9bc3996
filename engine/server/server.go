// Package server exposes one engine.Engine over gRPC as graft.engine.v1.Engine,
// together with the standard gRPC health service, so a sidecar (or any client) in
// another process can generate, tokenize and render chat prompts.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/graft-ai/graft/engine"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// ServiceName is the health-check service name of the engine service.
const ServiceName = "graft.engine.v1.Engine"

// MaxMessageBytes bounds one gRPC message either way. grpc-go's default, 4 MiB,
// is less than a full context can take as text (a 128k-token prompt of long
// tokens, a chat history); a request the sidecar accepts is at most 32 MiB of
// JSON, so 64 MiB carries any of them whole and the engine, not the transport,
// decides whether the prompt fits the context. Clients must raise their own
// limits to match.
const MaxMessageBytes = 64 << 20

// NewGRPCServer returns a gRPC server whose message limits fit a full context.
func NewGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageBytes), grpc.MaxSendMsgSize(MaxMessageBytes),
	}, opts...)...)
}

// Server implements enginev1.EngineServer on top of one engine.
type Server struct {
	enginev1.UnimplementedEngineServer
	eng     *engine.Engine
	modelID string
	health  *health.Server
	texts   *tokenTexts
	chat    chatSettings // set by SetChatLimits, in chat.go
	// maxPromptBytes bounds the text encoded for one prompt (see encodePrompt).
	maxPromptBytes int
	grammars       grammarCache // compiled constraints, in constraint.go
}

// New wraps eng; modelID is what Stats reports as the served model.
func New(eng *engine.Engine, modelID string) *Server {
	tok := eng.Loaded().Tokenizer
	return &Server{eng: eng, modelID: modelID, health: health.NewServer(),
		texts: newTokenTexts(tok), maxPromptBytes: promptByteBound(eng.Config().MaxModelLen, tok.MaxTokenBytes())}
}

// Register adds the engine and health services to g and marks both SERVING.
func (s *Server) Register(g *grpc.Server) {
	enginev1.RegisterEngineServer(g, s)
	healthpb.RegisterHealthServer(g, s.health)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(ServiceName, healthpb.HealthCheckResponse_SERVING)
}

// Listen opens addr: "unix:///abs/path.sock", "unix:rel.sock" or "host:port".
// A stale socket file left by a dead process is removed first.
func Listen(addr string) (net.Listener, error) {
	if path, ok := UnixPath(addr); ok {
		if fi, err := os.Stat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			if c, err := net.Dial("unix", path); err == nil {
				c.Close()
				return nil, fmt.Errorf("listen %s: another process is serving there", addr)
			}
			_ = os.Remove(path)
		}
		return net.Listen("unix", path)
	}
	return net.Listen("tcp", addr)
}

// UnixPath returns the socket path of a unix: address.
func UnixPath(addr string) (string, bool) {
	if rest, ok := strings.CutPrefix(addr, "unix://"); ok {
		return rest, true
	}
	return strings.CutPrefix(addr, "unix:")
}

// Serve runs g on lis until ctx ends, then drains: health turns NOT_SERVING, new
// streams are refused, running ones get up to drain to finish, and whatever is
// still running after that is cancelled.
func (s *Server) Serve(ctx context.Context, g *grpc.Server, lis net.Listener, drain time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- g.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	slog.Info("engine server draining", "deadline", drain)
	s.health.Shutdown()
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(drain):
		slog.Warn("drain deadline passed; cancelling running streams")
		g.Stop()
		<-stopped
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// SetServing flips the health status, e.g. NOT_SERVING while draining.
func (s *Server) SetServing(ok bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(ServiceName, st)
}

// Stats reports the engine's load.
func (s *Server) Stats(context.Context, *enginev1.StatsRequest) (*enginev1.StatsResponse, error) {
	st := s.eng.Stats()
	return &enginev1.StatsResponse{
		QueueDepth: uint32(st.Waiting), RunningSequences: uint32(st.Running),
		KvBlocksUsed: uint32(st.KVBlocksUsed), KvBlocksTotal: uint32(st.KVTotal),
		ModelId: s.modelID, MaxModelLen: uint32(s.eng.Config().MaxModelLen),
		AdapterSlotsUsed: uint32(st.AdapterSlotsUsed), AdapterSlotsTotal: uint32(st.AdapterSlots),
		KvCacheUsage: st.KVUsage(), PromptTokensTotal: st.PromptTokens, PrefillTokensTotal: st.PrefillTokens,
		GenerationTokensTotal: st.GenerationTokens, MaxQueued: uint32(st.MaxQueued),
		PrefixCacheQueriesTotal: st.PrefixCacheQueries, PrefixCacheHitsTotal: st.PrefixCacheHits,
		AdapterLoadsTotal: st.AdapterLoads, AdapterSlotLoadsTotal: st.AdapterSlotLoads,
	}, nil
}
