package openai

import (
	"encoding/json"
	"testing"

	"github.com/graft-ai/graft/engine/lora"
)

// FuzzMergedAdapters: any JSON in the "adapters" field decodes to an error
// or to a spec the engine accepts once its defaults apply, so what the
// sidecar lets through never comes back from the engine as a refusal it
// should have made itself.
func FuzzMergedAdapters(f *testing.F) {
	f.Add([]byte(`{"ids":["a","b"],"weights":[0.5,1.5],"merge_strategy":"ties","density":0.5,"majority_sign_method":"frequency"}`))
	f.Add([]byte(`{"ids":["a"],"merge_strategy":"dare_linear","density":1,"seed":18446744073709551615}`))
	f.Add([]byte(`{"ids":["a","a"],"weights":[1e308,-0]}`))
	f.Add([]byte(`{"ids":[],"density":-1e-320}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m mergedAdapters
		if json.Unmarshal(data, &m) != nil || m.check() != nil {
			return
		}
		spec := lora.MergeSpec{Weights: m.Weights, Strategy: m.MergeStrategy, Density: 1, MajoritySign: m.MajoritySignMethod}
		if len(spec.Weights) == 0 {
			spec.Weights = make([]float64, len(m.IDs))
			for i := range spec.Weights {
				spec.Weights[i] = 1
			}
		}
		if spec.Strategy == "" {
			spec.Strategy = lora.MergeLinear
		}
		if m.Density != nil {
			spec.Density = *m.Density
		}
		if spec.MajoritySign == "" {
			spec.MajoritySign = lora.SignTotal
		}
		if field, err := spec.Check(len(m.IDs)); err != nil {
			t.Fatalf("the sidecar accepted %s; the engine refuses %s: %v", data, field, err)
		}
	})
}
