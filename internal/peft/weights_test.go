package peft_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/graft-ai/graft/internal/peft"
	"github.com/graft-ai/graft/internal/testmodels"
)

// stFile builds a safetensors file from a header and a data area of n bytes.
func stFile(header string, n int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), make([]byte, n)...)
}

func TestCheckWeightsStories(t *testing.T) {
	for _, name := range []string{"qv-r4", "all-r8", "mlp-r16", "o-r2-rslora"} {
		ts, err := peft.CheckWeightsFile(testmodels.Path(t, "stories260K", "adapters", name))
		if err != nil || len(ts) == 0 {
			t.Fatalf("%s: %d tensors, %v", name, len(ts), err)
		}
	}
}

// TestCheckWeightsTruncated: a weights file cut short says so, with both sizes.
func TestCheckWeightsTruncated(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testmodels.Path(t, "stories260K", "adapters", "all-r8"), peft.WeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	cut := len(data) - 1000
	_, err = peft.CheckWeights(bytes.NewReader(data[:cut]), int64(cut))
	want := "adapter_model.safetensors is truncated: header says " + strconv.Itoa(len(data)) + " bytes, file has " + strconv.Itoa(cut)
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	// Cut inside the header, the file's full size is unknown; its least is not.
	_, err = peft.CheckWeights(bytes.NewReader(data[:4000]), 4000)
	if err == nil || !strings.Contains(err.Error(), "is truncated: header says at least") {
		t.Fatalf("cut in the header: %v", err)
	}
}

func TestCheckWeightsRejects(t *testing.T) {
	const a = `"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"`
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "is truncated: 0 bytes"},
		{"short header", stFile(`{"a":1}`, 0)[:10], "is truncated: header says at least 15 bytes, file has 10"},
		{"huge header length", binary.LittleEndian.AppendUint64(nil, 1<<40), "over the 8388608-byte limit for a LoRA adapter"},
		{"header a byte over", append(binary.LittleEndian.AppendUint64(nil, peft.MaxHeaderSize+1), make([]byte, peft.MaxHeaderSize+1)...), "over the 8388608-byte limit"},
		{"not json", stFile(`not json`, 0), "invalid header"},
		{"array", stFile(`[1]`, 0), "invalid header"},
		{"no tensors", stFile(`{"__metadata__":{"format":"pt"}}`, 0), "holds no tensors"},
		{"no offsets", stFile(`{`+a+`:{"dtype":"F32","shape":[2,2]}}`, 16), "needs a dtype, a shape and two data_offsets"},
		{"int dtype", stFile(`{`+a+`:{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}`, 16), `dtype "I64"; LoRA weights must be F32, F16 or BF16`},
		{"offsets reversed", stFile(`{`+a+`:{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, 8), "end before they start"},
		{"size mismatch", stFile(`{`+a+`:{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}}`, 16), "(8 bytes), but F32 [2 2] needs 16 bytes"},
		{"huge shape", stFile(`{`+a+`:{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, 8), "too large"},
		{"out of bounds", stFile(`{`+a+`:{"dtype":"F32","shape":[2],"data_offsets":[1000000,1000008]}}`, 8), "past the end of the file's 8 bytes of tensor data"},
		{"cut short", stFile(`{`+a+`:{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, 8), "is truncated: header says"},
	} {
		_, err := peft.CheckWeights(bytes.NewReader(tc.file), int64(len(tc.file)))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), peft.WeightsFile) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestMissingFiles(t *testing.T) {
	dir := t.TempDir()
	_, err := peft.ReadConfig(dir)
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != "adapter_config.json is missing" {
		t.Errorf("config: %v", err)
	}
	_, err = peft.CheckWeightsFile(dir)
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != "adapter_model.safetensors is missing" {
		t.Errorf("weights: %v", err)
	}
}
