package benchmark

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// LlamaCpp is llama.cpp's run through node-llama-cpp on the same GGUF.
type LlamaCpp struct {
	Version string  `json:"version"`
	Build   string  `json:"build"`
	Threads int     `json:"threads"`
	Greedy  []int32 `json:"greedy"`
	// GreedyAll holds the greedy tokens of each of the plan's greedy prompts.
	GreedyAll [][]int32          `json:"greedy_all"`
	Prefill   float64            `json:"prefill_tok_s"`
	Decode    map[string]float64 `json:"decode_tok_s"` // by number of streams
	PeakRSS   int64              `json:"-"`            // the node process's, bytes
}

// DecodeAt returns the aggregate decode rate at n streams, 0 if not measured.
func (l *LlamaCpp) DecodeAt(n int) float64 { return l.Decode[strconv.Itoa(n)] }

// plan is bench.mjs's input: the same ids and counts Graft ran.
type plan struct {
	Model   string `json:"model"`
	Threads int    `json:"threads"`
	Prefill struct {
		Tokens []int32 `json:"tokens"`
		Reps   int     `json:"reps"`
	} `json:"prefill"`
	Decode struct {
		Prompts [][]int32 `json:"prompts"`
		Lead    int       `json:"lead"`
		Tokens  int       `json:"tokens"`
		Reps    int       `json:"reps"`
		Batches []int     `json:"batches"`
	} `json:"decode"`
	Greedy struct {
		Prompt  []int32   `json:"prompt"`
		Tokens  int       `json:"tokens"`
		Prompts [][]int32 `json:"prompts"`
	} `json:"greedy"`
}

func runLlamaCpp(ctx context.Context, o Options, w workload, gguf string) (*LlamaCpp, error) {
	dir := o.LlamaCppDir
	if err := npmInstall(ctx, dir); err != nil {
		return nil, err
	}
	var p plan
	p.Model, p.Threads = gguf, o.Threads
	p.Prefill.Tokens, p.Prefill.Reps = w.prefill, o.PrefillReps
	p.Decode.Prompts, p.Decode.Lead, p.Decode.Tokens, p.Decode.Batches = w.prompts, leadTokens, o.DecodeTokens, o.Batches
	p.Decode.Reps = o.DecodeReps
	p.Greedy.Prompt, p.Greedy.Tokens, p.Greedy.Prompts = w.greedy, o.GreedyTokens, w.agreement
	planFile, err := os.CreateTemp("", "graft-llamacpp-plan-*.json")
	if err != nil {
		return nil, err
	}
	defer os.Remove(planFile.Name())
	if err := json.NewEncoder(planFile).Encode(p); err != nil {
		planFile.Close()
		return nil, err
	}
	if err := planFile.Close(); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "node", "bench.mjs", planFile.Name())
	cmd.Dir = dir
	// libuv's default four threads compete with llama.cpp's own on a small
	// host; with them node-llama-cpp runs 1.7-2.7x slower.
	cmd.Env = append(os.Environ(), "UV_THREADPOOL_SIZE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("node bench.mjs: %w: %s", err, tail(stderr.Bytes()))
	}
	var lc LlamaCpp
	if err := json.Unmarshal(stdout.Bytes(), &lc); err != nil {
		return nil, fmt.Errorf("node bench.mjs printed %q: %w", tail(stdout.Bytes()), err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		lc.PeakRSS = ru.Maxrss << 10 // kB on Linux
	}
	return &lc, nil
}

// npmInstall installs the pinned node-llama-cpp into dir when it is missing,
// without the optional GPU builds (~700 MB).
func npmInstall(ctx context.Context, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "node-llama-cpp")); err == nil {
		return nil
	}
	args := []string{"ci", "--omit=optional", "--no-audit", "--no-fund"}
	if _, err := os.Stat(filepath.Join(dir, "package-lock.json")); err != nil {
		args[0] = "install"
	}
	cmd := exec.CommandContext(ctx, "npm", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm %s in %s: %w: %s", args[0], dir, err, tail(out))
	}
	return nil
}

func tail(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if len(b) > 2000 {
		b = slices.Clone(b[len(b)-2000:])
	}
	return b
}
