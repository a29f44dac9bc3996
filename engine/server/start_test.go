package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/internal/testmodels"
	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

func storiesOptions(t *testing.T) Options {
	return Options{Model: testmodels.Path(t, "stories260K", "gguf", "stories260K.gguf"), Device: "cpu", Threads: 1}
}

// TestStartOnPrivateSocket: with no listen address the engine serves on a
// socket in a directory only this user can enter, answers over gRPC, stops
// when its context ends, and leaves no directory behind.
func TestStartOnPrivateSocket(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := Start(ctx, storiesOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	path, ok := strings.CutPrefix(r.Addr(), "unix://")
	if !ok {
		t.Fatalf("Addr %q, want a unix socket", r.Addr())
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("socket directory %s: %v %v, want mode 0700", dir, fi.Mode(), err)
	}
	conn, err := grpc.NewClient(r.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, err := enginev1.NewEngineClient(conn).Stats(ctx, &enginev1.StatsRequest{})
	if err != nil || st.ModelId != "stories260K" || r.ModelID() != "stories260K" {
		t.Fatalf("Stats: %v %v", st, err)
	}
	cancel()
	if err := r.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("socket directory left behind: %v", err)
	}
}

// TestStartRefusesBadOptions: a value that cannot work is an *OptionError
// naming the field; a model that is not there is a plain error.
func TestStartRefusesBadOptions(t *testing.T) {
	for field, edit := range map[string]func(*Options){
		"Device": func(o *Options) { o.Device = "tpu" },
		"Listen": func(o *Options) { o.Listen = "no-port" },
		"Engine": func(o *Options) { o.Engine = engine.Config{KVCacheBytes: 1, MaxModelLen: 256} },
	} {
		o := storiesOptions(t)
		edit(&o)
		_, err := Start(context.Background(), o)
		var oe *OptionError
		if !errors.As(err, &oe) || oe.Field != field {
			t.Errorf("bad %s: %v, want an *OptionError for it", field, err)
		}
	}
	o := storiesOptions(t)
	o.Model = filepath.Join(t.TempDir(), "missing.gguf")
	var oe *OptionError
	if _, err := Start(context.Background(), o); err == nil || errors.As(err, &oe) {
		t.Errorf("missing model: %v, want a plain error", err)
	}
}
