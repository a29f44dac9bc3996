package sidecar

import (
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// MaxMessageBytes bounds one gRPC message to or from the engine. It matches the
// engine server's limit (engine/server.MaxMessageBytes; a test checks they
// agree): grpc-go's 4 MiB default is less than a full context can take as text,
// and a prompt the transport refuses would reach the client as a retryable 503
// instead of the engine's 400 saying it does not fit the context.
const MaxMessageBytes = 64 << 20

// Dial returns a client connection to the engine at addr (unix:///abs/path.sock,
// unix:rel.sock or host:port) with message limits that fit a full context. It
// does not connect until the first call.
// Extra options (a stats handler for tracing, say) are added to those.
func Dial(addr string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	return grpc.NewClient(dialTarget(addr), append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes))}, opts...)...)
}

// dialTarget turns an address into a grpc-go target. Unix addresses take the
// engine's listen syntax, where unix://rel.sock is a relative path as well;
// host:port goes to the passthrough resolver, so the dialer resolves a name
// when it connects instead of grpc-go's DNS resolver.
func dialTarget(addr string) string {
	path, ok := strings.CutPrefix(addr, "unix://")
	if !ok {
		path, ok = strings.CutPrefix(addr, "unix:")
	}
	switch {
	case !ok:
		return "passthrough:///" + addr
	case strings.HasPrefix(path, "/"):
		return "unix://" + path
	}
	return "unix:" + path
}
