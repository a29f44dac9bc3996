package jobs

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Process launches "graft train" as a child process of this one: the local
// provider's trainer, so a crash while training cannot take the control
// process down, and a control process that dies takes its trainers with it
// (their jobs resume from their checkpoints on its next start).
type Process struct {
	// Exe is the graft binary; default this process's own.
	Exe string
	// Env is added to the child's environment.
	Env []string
}

// Launch starts the trainer.
func (p Process) Launch(_ context.Context, spec TrainSpec) (Trainer, error) {
	exe := p.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	logf, err := os.OpenFile(spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "train", "--config", spec.ConfigPath, "--events", spec.EventsPath)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig fires when the thread that started the child ends, so that
	// thread stays locked to the goroutine waiting for the child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	pr := &proc{cmd: cmd, log: spec.LogPath, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer logf.Close()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		pr.err = cmd.Wait()
		close(pr.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return pr, nil
}

type proc struct {
	cmd  *exec.Cmd
	log  string
	err  error
	done chan struct{}
}

func (p *proc) Done() <-chan struct{} { return p.done }
func (p *proc) Err() error            { return p.err }

// Stop asks the trainer to stop (SIGTERM to its process group), and kills
// it if it has not within 10 s.
func (p *proc) Stop() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// Log returns the last lines the trainer wrote.
func (p *proc) Log() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	s := strings.Join(lines, "\n")
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}

var _ Trainer = (*proc)(nil)
