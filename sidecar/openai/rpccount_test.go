package openai

import (
	"context"
	"path"
	"sync"

	"google.golang.org/grpc"
)

// rpcCounter counts the calls a real engine server receives, so a test can
// show how many round trips a request cost.
type rpcCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *rpcCounter) add(method string) {
	c.mu.Lock()
	c.n[path.Base(method)]++
	c.mu.Unlock()
}

// take returns the counts so far and starts again from zero.
func (c *rpcCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

func (c *rpcCounter) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	c.add(info.FullMethod)
	return h(ctx, req)
}

func (c *rpcCounter) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	c.add(info.FullMethod)
	return h(srv, ss)
}
