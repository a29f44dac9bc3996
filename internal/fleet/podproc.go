package fleet

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// startPodProcess runs a pod as "graft serve" in its own process, as the
// local provider and Kubernetes run replicas. A client never shares a
// process with the pod it calls, so a pod in the bench's own process would
// make the direct path cheaper than any real client's: the request and its
// first byte would not wake another process.
func (f *Fleet) startPodProcess(ctx context.Context, c FleetConfig, redisURL, id string) error {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer lis.Close() // the child holds its own copy
	sock, err := lis.(*net.TCPListener).File()
	if err != nil {
		return err
	}
	defer sock.Close()
	args := []string{"serve", "--model", c.Model, "--listen-fd", "3", "--redis", redisURL,
		"--served-model-name", c.Deployment, "--deployment", c.Deployment, "--replica-id", id,
		"--heartbeat-ttl", "5s", "--adapter-cache", filepath.Join(c.Dir, "cache-"+id),
		"--threads", fmt.Sprint(c.Threads), "--max-num-seqs", fmt.Sprint(c.MaxSeqs), "--log-level", "warn"}
	if c.AdapterRoot != "" {
		args = append(args, "--adapter-root", c.AdapterRoot)
	}
	cmd := exec.Command(c.PodExe, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.ExtraFiles = []*os.File{sock}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("fleet: start pod %s: %w", id, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	f.stops = append(f.stops, func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	url := "http://" + lis.Addr().String()
	if err := waitAnswering(ctx, url, exited); err != nil {
		return fmt.Errorf("fleet: pod %s: %w", id, err)
	}
	f.PodURLs = append(f.PodURLs, url)
	return nil
}

// waitAnswering waits until url's /readyz answers 200, the pod exits, or a
// minute passes.
func waitAnswering(ctx context.Context, url string, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		if resp, err := client.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited before answering: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("not ready within a minute")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
