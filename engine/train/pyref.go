package train

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The reference stack `make peft-deps` (scripts/peft-venv.sh) installs from PyPI.
// Keep these in step with the script.
const (
	PEFTVersions = "torch 2.5.1, transformers 4.46.3, peft 0.13.2, safetensors 0.4.5"
	peftVenvName = "peft-torch2.5.1-tf4.46.3-peft0.13.2"
)

//go:embed pyref/reference.py
var referencePy []byte

// PEFTPython returns the Python interpreter of the PEFT reference virtualenv
// ($GRAFT_PEFT_VENV, else ~/.cache/graft/peft-<versions>), or an error saying
// exactly why it cannot be used.
func PEFTPython() (string, error) {
	venv := os.Getenv("GRAFT_PEFT_VENV")
	if venv == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		venv = filepath.Join(home, ".cache", "graft", peftVenvName)
	}
	py := filepath.Join(venv, "bin", "python")
	if _, err := os.Stat(py); err != nil {
		return "", fmt.Errorf("no PEFT virtualenv at %s (run `make peft-deps` to install %s from PyPI, about 5 GB)", venv, PEFTVersions)
	}
	if out, err := exec.Command(py, "-c", "import torch, transformers, peft, safetensors").CombinedOutput(); err != nil {
		return "", fmt.Errorf("the PEFT virtualenv at %s does not import torch/transformers/peft: %v: %s", venv, err, lastLine(out))
	}
	return py, nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// runReference runs the embedded reference script in mode on spec and
// decodes its JSON answer into out.
func runReference(py, mode string, spec, out any) error {
	dir, err := os.MkdirTemp("", "graft-pyref-")
	if err != nil {
		return err
	}
	if os.Getenv("GRAFT_PYREF_KEEP") == "" {
		defer os.RemoveAll(dir)
	}
	script, specPath := filepath.Join(dir, "reference.py"), filepath.Join(dir, "spec.json")
	js, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	if err := os.WriteFile(script, referencePy, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(specPath, js, 0o644); err != nil {
		return err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(py, script, mode, specPath)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("PEFT reference (%s): %v: %s", mode, err, lastLine(stderr.Bytes()))
	}
	return json.Unmarshal(stdout.Bytes(), out)
}

// refSample is one sequence as the reference script takes it.
type refSample struct {
	Tokens  []int32 `json:"tokens"`
	Targets []int32 `json:"targets"`
}

func refSamples(ss []sample) []refSample {
	out := make([]refSample, len(ss))
	for i, s := range ss {
		out[i] = refSample{Tokens: s.tokens, Targets: s.targets}
	}
	return out
}
