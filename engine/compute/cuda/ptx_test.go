package cuda

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPTXIsFresh fails when a kernel source changed after the PTX was
// generated: the hash of the sources must equal the one gen.sh recorded.
func TestPTXIsFresh(t *testing.T) {
	var names []string
	for _, pat := range []string{"kernels/*.cu", "kernels/*.cuh"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, m...)
	}
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(filepath.Base(a), filepath.Base(b)) })
	h := sha256.New()
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(data)
	}
	want, err := os.ReadFile("kernels/SOURCES.sha256")
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.TrimSpace(string(want)) {
		t.Fatalf("kernels/*.cu changed since the PTX was generated (sources %s, recorded %s): run 'make cuda' and commit the PTX", got, strings.TrimSpace(string(want)))
	}
}

// TestPTXHasEveryKernel checks both modules define every entry point Open
// resolves, for their architecture.
func TestPTXHasEveryKernel(t *testing.T) {
	for arch, ptx := range map[string][]byte{"sm_80": ptxSM80, "sm_90": ptxSM90} {
		if !bytes.Contains(ptx, []byte(".target "+arch)) {
			t.Errorf("%s module does not target %s", arch, arch)
		}
		for _, k := range kernelNames {
			if !bytes.Contains(ptx, []byte(".entry "+k+"(")) {
				t.Errorf("%s module has no kernel %s", arch, k)
			}
		}
	}
}

func TestPTXForCapability(t *testing.T) {
	if p, _ := ptxFor(9, 0); !bytes.Equal(p, ptxSM90) {
		t.Error("Hopper should get the sm_90 module")
	}
	if p, _ := ptxFor(8, 9); !bytes.Equal(p, ptxSM80) {
		t.Error("Ada should get the sm_80 module")
	}
	if _, err := ptxFor(7, 5); err == nil {
		t.Error("Turing has no BF16 and should be refused")
	}
}
