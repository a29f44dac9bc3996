package server

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/model"
	"github.com/graft-ai/graft/internal/tmpdir"
)

// Running is an engine serving gRPC, started by Start.
type Running struct {
	addr string
	id   string
	eng  *engine.Engine
	stop context.CancelFunc
	done chan struct{}
	err  error
}

// Start loads the model Options name, starts the engine and serves it over
// gRPC (graft.engine.v1.Engine and grpc.health.v1) until ctx ends or Stop is
// called; then it drains for up to Options.Drain, closes the engine and frees
// the device. An error from Start means nothing is left running. A bad option
// is an *OptionError.
func Start(ctx context.Context, o Options) (*Running, error) {
	lis, addr, removeDir, err := listen(o.Listen)
	if err != nil {
		return nil, err
	}
	eng, closeEng, err := load(&o)
	if err != nil {
		lis.Close()
		removeDir()
		return nil, err
	}
	srv := New(eng, o.ModelID())
	srv.SetChatLimits(ChatLimits{AllowRequestTemplates: o.AllowRequestTemplates})
	g := NewGRPCServer(tracingOption(o.Tracer)...)
	srv.Register(g)
	sctx, cancel := context.WithCancel(ctx)
	r := &Running{addr: addr, id: o.ModelID(), eng: eng, stop: cancel, done: make(chan struct{})}
	go func() {
		r.err = srv.Serve(sctx, g, lis, o.Drain)
		closeEng()
		removeDir()
		close(r.done)
	}()
	slog.Info("engine serving", "model", r.id, "listen", addr)
	return r, nil
}

// Addr is where the engine listens, in Listen's syntax, which is also a
// grpc-go dial target (a chosen port filled in).
func (r *Running) Addr() string { return r.addr }

// ModelID is the id the engine serves the model as.
func (r *Running) ModelID() string { return r.id }

// Engine is the engine behind the server, for callers in the same process.
func (r *Running) Engine() *engine.Engine { return r.eng }

// Wait blocks until the server has stopped and everything is closed, and
// returns the server's error, if any.
func (r *Running) Wait() error {
	<-r.done
	return r.err
}

// Stop drains and stops the server, as when Start's context ends, and waits
// for it; Wait has its error.
func (r *Running) Stop() {
	r.stop()
	<-r.done
}

// load opens the backend, the model and the engine, and returns the engine
// with the function that closes all three.
func load(o *Options) (*engine.Engine, func(), error) {
	q, err := model.ParseQuantize(o.Quantize)
	if err != nil {
		return nil, nil, err
	}
	b, closeB, err := OpenBackend(o.Device, o.Threads)
	if err != nil {
		return nil, nil, err
	}
	if err := SetQuantActivations(b, o.QuantActivations); err != nil {
		closeB()
		return nil, nil, err
	}
	SetRepack(b, !o.NoRepack)
	l, err := engine.LoadWith(o.Model, b, model.LoadOptions{Quantize: q})
	if err != nil {
		closeB()
		return nil, nil, err
	}
	cfg := o.Engine
	rank := cfg.MaxLoRARank
	if rank <= 0 {
		rank = engine.DefaultMaxLoRARank
	}
	n, ok, err := adapterSlotsFromMemory(b, &l.Model.Config, o.AdapterMemoryFraction, rank)
	if err != nil {
		l.Close()
		closeB()
		return nil, nil, err
	}
	if ok {
		cfg.MaxActiveAdapters = n
	}
	// Never nil: an engine started without adapter dirs loads no adapter at all.
	cfg.AdapterDirs = append([]string{}, o.AdapterDirs...)
	eng, err := engine.New(l, cfg)
	if err != nil {
		l.Close()
		closeB()
		return nil, nil, &OptionError{Field: "Engine", Err: err}
	}
	return eng, func() { eng.Close(); l.Close(); closeB() }, nil
}

// listen opens addr, or for "" a socket in a fresh private directory. It
// returns the listener, its address in Listen's syntax, and a function that
// removes the private directory (a no-op otherwise).
func listen(addr string) (net.Listener, string, func(), error) {
	if addr != "" {
		lis, err := Listen(addr)
		if err != nil {
			return nil, "", nil, &OptionError{Field: "Listen", Err: err}
		}
		return lis, boundAddr(addr, lis), func() {}, nil
	}
	// The directory is 0700 under a fresh random name, so no other user can
	// connect to, pre-create or replace the socket; tmpdir removes it later
	// if this process is killed before it can.
	dir, err := tmpdir.Make("", "graft-engine-")
	if err != nil {
		return nil, "", nil, err
	}
	path := filepath.Join(dir.Path, "engine.sock")
	lis, err := net.Listen("unix", path)
	if err != nil {
		dir.Remove()
		return nil, "", nil, err
	}
	return lis, "unix://" + path, func() { dir.Remove() }, nil
}

// boundAddr is addr with a port chosen by the system filled in.
func boundAddr(addr string, lis net.Listener) string {
	if path, ok := UnixPath(addr); ok {
		if strings.HasPrefix(path, "/") {
			return "unix://" + path
		}
		return "unix:" + path
	}
	return lis.Addr().String()
}
