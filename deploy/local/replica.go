package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/graft-ai/graft/deploy"
	"github.com/graft-ai/graft/deploy/state"
	"github.com/graft-ai/graft/internal/tmpdir"
	"github.com/graft-ai/graft/sidecar/adaptersource"
)

// replica is one child process and what the provider knows of it.
type replica struct {
	p    *Provider
	spec deploy.ReplicaSpec
	stop chan struct{} // closed by Stop
	pid  int           // under p.mu
	info deploy.Replica
}

// tailBytes is how much of a child's output is kept for its failure reason.
const tailBytes = 16 << 10

// pollEvery is how often a starting replica's /readyz and heartbeat are read.
const pollEvery = 100 * time.Millisecond

func (r *replica) run() {
	log := r.p.cfg.Log.With("deployment", r.spec.Deployment, "replica", r.spec.ID)
	cmd, exited, out, addr, err := r.start(log)
	if err != nil {
		r.fail(err.Error())
		return
	}
	why, live := r.waitLive(addr, exited, out)
	if !live {
		if why != "" { // "" means it was stopped while starting
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // it may still run: it missed its deadline
			<-exited
			log.Warn("replica failed to start", "reason", why)
			r.fail(why)
			return
		}
	} else {
		r.p.set(r, func(info *deploy.Replica) {
			if info.Phase == deploy.PhaseStarting {
				info.Phase = deploy.PhaseLive
			}
		})
		log.Info("replica live", "addr", addr)
	}
	if why, stopped := r.serve(addr, cmd.Process.Pid, exited, out); !stopped {
		log.Warn("replica exited", "reason", why)
		r.p.set(r, func(info *deploy.Replica) { info.Phase, info.Reason = deploy.PhaseExited, why })
		return
	}
	r.terminate(cmd, exited, log)
	r.p.gone(r)
}

// start runs the child on a port this process binds and hands over as its
// descriptor 3: the port is never free between being chosen and being
// served, so no other process can take it.
func (r *replica) start(log interface{ Info(string, ...any) }) (*exec.Cmd, chan error, *tail, string, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("no port for the replica: %v", err)
	}
	defer lis.Close() // the child holds its own copy
	sock, err := lis.(*net.TCPListener).File()
	if err != nil {
		return nil, nil, nil, "", err
	}
	defer sock.Close()
	addr := lis.Addr().String()
	args, err := r.p.args(r.spec)
	if err != nil {
		return nil, nil, nil, "", err
	}
	tmp, err := tmpdir.Make(r.p.cfg.TempDir, "graft-replica-")
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("no temporary folder for the replica: %v", err)
	}
	out := &tail{max: tailBytes}
	cmd := exec.Command(r.p.cfg.Exe, args...)
	cmd.Env = append(append(cmd.Environ(), r.p.cfg.Env...), "GRAFT_REDIS="+r.p.cfg.Redis, "TMPDIR="+tmp.Path)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.ExtraFiles = []*os.File{sock}
	// Its own process group, killed with it; and the kernel kills it if this
	// process dies, so no replica outlives its control process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tmp.Remove()
		return nil, nil, nil, "", fmt.Errorf("start %s: %v", r.p.cfg.Exe, err)
	}
	r.p.set(r, func(info *deploy.Replica) { info.Addr = addr })
	r.p.mu.Lock()
	r.pid = cmd.Process.Pid
	r.p.mu.Unlock()
	log.Info("replica starting", "pid", cmd.Process.Pid, "addr", addr, "generation", r.spec.Generation)
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		tmp.Remove()
		exited <- err
	}()
	return cmd, exited, out, addr, nil
}

// serve watches a replica until it is stopped (true), or exits or stops
// answering /readyz for the Unhealthy time, when it is killed (false, why).
// A hung replica would otherwise hold its place forever.
func (r *replica) serve(addr string, pid int, exited chan error, out *tail) (string, bool) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	client := &http.Client{Timeout: time.Second}
	var failingSince time.Time
	for {
		select {
		case err := <-exited:
			return exitReason(err, out.String()), false
		case <-r.stop:
			return "", true
		case <-tick.C:
		}
		switch {
		case r.answers(client, addr):
			failingSince = time.Time{}
		case failingSince.IsZero():
			failingSince = time.Now()
		case time.Since(failingSince) >= r.p.cfg.Unhealthy:
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-exited
			return fmt.Sprintf("not ready for %s, killed; its last output: %s", r.p.cfg.Unhealthy, reason(out.String())), false
		}
	}
}

func (r *replica) answers(client *http.Client, addr string) bool {
	resp, err := client.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitLive polls until the replica is live (true), fails (false with the
// reason) or is stopped (false, "").
func (r *replica) waitLive(addr string, exited chan error, out *tail) (string, bool) {
	deadline := time.NewTimer(r.p.cfg.ReadyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	client := &http.Client{Timeout: time.Second}
	preloaded := false
	for {
		select {
		case err := <-exited:
			exited <- err // run reads it again
			return exitReason(err, out.String()), false
		case <-r.stop:
			return "", false
		case <-deadline.C:
			return fmt.Sprintf("not ready after %s: %s", r.p.cfg.ReadyTimeout, reason(out.String())), false
		case <-tick.C:
		}
		hb, ok := r.ready(client, addr)
		switch {
		case !ok:
		case !preloaded:
			if why := r.preload(addr); why != "" {
				return why, false
			}
			preloaded = true
		case r.resident(hb):
			// Live only once Redis shows the preloaded adapters, so whoever
			// routes by residency sees them as soon as it sees the replica.
			return "", true
		}
	}
}

// ready: the sidecar's /readyz answers 200 and its heartbeat says ready.
func (r *replica) ready(client *http.Client, addr string) (state.Replica, bool) {
	resp, err := client.Get("http://" + addr + "/readyz")
	if err != nil {
		return state.Replica{}, false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return state.Replica{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	hb, ok, err := r.p.cfg.Store.GetReplica(ctx, r.spec.Deployment, r.spec.ID)
	return hb, err == nil && ok && hb.State == state.StateReady && hb.Addr == addr
}

// resident reports whether the heartbeat lists every preloaded adapter, as
// it was asked for or in its canonical form.
func (r *replica) resident(hb state.Replica) bool {
	for _, a := range r.spec.Spec.PreloadedAdapters {
		canon := a
		if ref, err := adaptersource.ParseRef(a); err == nil {
			canon = ref.String()
		}
		if !slices.Contains(hb.Adapters, a) && !slices.Contains(hb.Adapters, canon) {
			return false
		}
	}
	return true
}

// preload asks the replica for one token with each preloaded adapter, which
// fetches and loads it; an adapter that cannot load fails the replica with
// the API's own message.
func (r *replica) preload(addr string) string {
	client := &http.Client{Timeout: r.p.cfg.ReadyTimeout}
	for _, a := range r.spec.Spec.PreloadedAdapters {
		body := fmt.Sprintf(`{"model": %q, "prompt": "", "max_tokens": 1}`, a)
		resp, err := client.Post("http://"+addr+"/v1/completions", "application/json", strings.NewReader(body))
		if err != nil {
			return fmt.Sprintf("preload adapter %s: %v", a, err)
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Sprintf("preload adapter %s: %s: %s", a, resp.Status, strings.TrimSpace(string(msg)))
		}
	}
	return ""
}

// terminate sends SIGTERM (the pod drains its streams) and SIGKILL if it is
// still there after Drain and a margin.
func (r *replica) terminate(cmd *exec.Cmd, exited chan error, log interface{ Info(string, ...any) }) {
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
		log.Info("replica stopped")
	case <-time.After(r.p.cfg.Drain + 10*time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		log.Info("replica killed: still running after its drain time")
	}
}

func (r *replica) fail(why string) {
	r.p.set(r, func(info *deploy.Replica) { info.Phase, info.Reason = deploy.PhaseFailed, why })
}

// exitReason is the child's own last error, with how it ended.
func exitReason(err error, out string) string {
	how := "exited"
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			how = fmt.Sprintf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
		} else {
			how = fmt.Sprintf("exit status %d", ee.ExitCode())
		}
	}
	if why := reason(out); why != "" {
		return how + ": " + why
	}
	return how
}
