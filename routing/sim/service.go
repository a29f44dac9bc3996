package sim

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
)

//go:embed service_cpu.json
var defaultService []byte

// LoadService reads a service model; "" is the one fitted on this project's
// CPU benchmarks (service_cpu.json says from which runs).
func LoadService(path string) (Service, error) {
	b := defaultService
	if path != "" {
		var err error
		if b, err = os.ReadFile(path); err != nil {
			return Service{}, err
		}
	}
	var s Service
	if err := json.Unmarshal(b, &s); err != nil {
		return Service{}, fmt.Errorf("service %s: %w", path, err)
	}
	if s.StepBase < 0 || s.StepPerSeq <= 0 || s.Slots < 1 || s.HostCache < 0 || s.MaxBatch < 1 || s.KVTokens < 1 {
		return Service{}, fmt.Errorf("service %s: need step_per_seq_s > 0, slots, max_batch and kv_tokens >= 1", path)
	}
	if s.MaxBatchedTokens != 0 && s.MaxBatchedTokens <= s.MaxBatch {
		return Service{}, fmt.Errorf("service %s: max_batched_tokens must be 0 (whole prompts) or more than max_batch", path)
	}
	return s, nil
}
