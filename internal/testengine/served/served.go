// Package served serves the stories260K test engine over real gRPC on a unix
// socket, for the tests of what talks to an engine (the sidecar, metrics).
// It is apart from testengine because engine/server's own tests use that.
package served

import (
	"net"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/server"
	"github.com/graft-ai/graft/internal/testengine"
)

// Stories starts stories260K with cfg behind a gRPC server and returns a
// connection to it and the server's stop, after which every call fails as
// with an engine that died. Both end with the test.
func Stories(t testing.TB, cfg engine.Config) (conn *grpc.ClientConn, stop func()) {
	t.Helper()
	eng := testengine.Stories(t, cfg)
	sock := filepath.Join(t.TempDir(), "engine.sock")
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	server.New(eng, "stories260K").Register(g)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	conn, err = grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, g.Stop
}
