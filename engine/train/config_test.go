package train

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestParseConfigDefaultsAndErrors(t *testing.T) {
	c, err := ParseConfig([]byte(`{"BaseModel": "m", "TrainFile": "t.jsonl", "OutputDir": "o"}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Epochs != 3 || c.BatchSize != 4 || c.GradAccum != 1 || c.Rank != 8 || c.Alpha != 16 ||
		c.LearningRate != 2e-4 || c.Schedule != "linear" || c.MaxGradNorm != 1 || len(c.TargetModules) != 2 {
		t.Errorf("defaults: %+v", c)
	}
	for _, bad := range []struct{ json, says string }{
		{`{"TrainFile": "t", "OutputDir": "o"}`, "BaseModel is required"},
		{`{"BaseModel": "m", "TrainFile": "t", "OutputDir": "o", "Dropout": 1}`, "Dropout 1"},
		{`{"BaseModel": "m", "TrainFile": "t", "OutputDir": "o", "Schedule": "step"}`, `Schedule "step"`},
		{`{"BaseModel": "m", "TrainFile": "t", "OutputDir": "o", "TargetModules": ["lm_head"]}`, `"lm_head"`},
		{`{"BaseModel": "m", "TrainFile": "t", "OutputDir": "o", "LearningRate": -1}`, "LearningRate -1"},
		{`{"BaseModel": "m", "TrainFile": "t", "OutputDir": "o", "Rank": 5000}`, "Rank 5000"},
		{`{"BaseModel": "m", "TrainFile": "t", "OutputDir": "o", "Lr": 1}`, `unknown field "Lr"`},
		{`{"BaseModel": "m"} {}`, "more than one"},
	} {
		if _, err := ParseConfig([]byte(bad.json)); err == nil || !strings.Contains(err.Error(), bad.says) {
			t.Errorf("%s: error %v, want one saying %q", bad.json, err, bad.says)
		}
	}
}

func TestScheduleMatchesTransformers(t *testing.T) {
	// Values of transformers' get_*_schedule_with_warmup lambdas, warm-up 2 of 10 steps.
	for _, c := range []struct {
		kind string
		want []float64
	}{
		{"linear", []float64{0, 0.5, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125}},
		{"cosine", []float64{0, 0.5, 1, 0.9619397662556434, 0.8535533905932737, 0.6913417161825449, 0.5, 0.30865828381745514, 0.14644660940672627, 0.03806023374435663}},
		{"constant", []float64{0, 0.5, 1, 1, 1, 1, 1, 1, 1, 1}},
	} {
		for s, w := range c.want {
			if got := lrFactor(c.kind, s, 2, 10); abs(got-w) > 1e-12 {
				t.Errorf("%s step %d: %v, want %v", c.kind, s, got, w)
			}
		}
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// FuzzParseConfig: any bytes give a Config or an error, never a panic, and an
// accepted Config survives a JSON round trip unchanged.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"BaseModel": "m", "TrainFile": "t.jsonl", "OutputDir": "o", "Epochs": 2, "TargetModules": ["q_proj"]}`))
	f.Add([]byte(`{"BaseModel": "m", "TrainFile": "t", "OutputDir": "o", "Dropout": 0.5, "RSLoRA": true, "Schedule": "cosine"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		js, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseConfig(js)
		if err != nil || !reflect.DeepEqual(c, again) {
			t.Fatalf("round trip of %s: %+v, %v", js, again, err)
		}
	})
}
