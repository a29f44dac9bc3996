package testserver

import "syscall"

// Kill ends the server with SIGKILL and waits for it, as a crash looks to its
// clients: no shutdown, open connections reset. It is safe to call more than
// once, and Stop after Kill does nothing.
func (p *Process) Kill() {
	if p.cmd == nil || p.cmd.ProcessState != nil {
		return
	}
	_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	_ = p.cmd.Wait()
}
