package deploy

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testModel is a path that exists wherever the tests run.
const testModel = "testdata"

func TestDecodeSpecDefaults(t *testing.T) {
	s, err := DecodeSpec([]byte(`{"base_model": "testdata"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Spec{BaseModel: testModel, MaxReplicas: 1, ScaleUpThreshold: 1, Cooldown: Duration(time.Hour), Type: Dedicated,
		PreloadedAdapters: []string{}, AdapterSources: []string{}}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got %+v, want %+v", s, want)
	}
}

func TestDecodeSpecAllFields(t *testing.T) {
	in := `{"base_model": "testdata", "min_replicas": 1, "max_replicas": 3, "scale_up_threshold": 4,
		"cooldown": "2s", "preloaded_adapters": ["all-r8", "hf://org/a@v1"], "adapter_sources": ["testdata", "hf://", "s3://bucket/p"],
		"threads": 2, "max_active_adapters": 4, "context_length": 256, "device": "cuda:1", "type": "serverless"}`
	s, err := DecodeSpec([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if s.MinReplicas != 1 || s.MaxReplicas != 3 || s.ScaleUpThreshold != 4 || s.Cooldown != Duration(2*time.Second) ||
		s.Threads != 2 || s.MaxActiveAdapters != 4 || s.ContextLength != 256 || s.Device != "cuda:1" || s.Type != Serverless ||
		len(s.PreloadedAdapters) != 2 || len(s.AdapterSources) != 3 {
		t.Fatalf("decoded %+v", s)
	}
	if root, err := s.AdapterRoot(); err != nil || root != "testdata" {
		t.Fatalf("AdapterRoot = %q, %v", root, err)
	}
	// A number of seconds is a cooldown too, as Predibase's cooldown_time is.
	s, err = DecodeSpec([]byte(`{"base_model": "testdata", "cooldown": 90}`))
	if err != nil || s.Cooldown != Duration(90*time.Second) {
		t.Fatalf("cooldown 90 = %v, %v", time.Duration(s.Cooldown), err)
	}
}

func TestDecodeSpecRefusesNamingTheField(t *testing.T) {
	cases := []struct{ in, field string }{
		{`{"base_model": "testdata", "replicas": 2}`, "replicas"},
		{`{"base_model": "testdata", "min_replicas": -1}`, "min_replicas"},
		{`{"base_model": "testdata", "max_replicas": -1}`, "max_replicas"},
		{`{"base_model": "testdata", "max_replicas": 0}`, "max_replicas"},
		{`{"base_model": "testdata", "max_replicas": 1000}`, "max_replicas"},
		{`{"base_model": "testdata", "min_replicas": 3, "max_replicas": 2}`, "min_replicas"},
		{`{"base_model": "testdata", "min_replicas": "1"}`, "min_replicas"},
		{`{"base_model": "testdata", "min_replicas": 1.5}`, "min_replicas"},
		{`{"base_model": "testdata/no-such-model.gguf"}`, "base_model"},
		{`{"base_model": "s3://bucket/model"}`, "base_model"},
		{`{"base_model": "hf://"}`, "base_model"},
		{`{"base_model": "hf://org/name/config.json"}`, "base_model"},
		{`{"min_replicas": 1}`, "base_model"},
		{`{"base_model": "testdata", "scale_up_threshold": 0}`, "scale_up_threshold"},
		{`{"base_model": "testdata", "cooldown": "soon"}`, "cooldown"},
		{`{"base_model": "testdata", "cooldown": "-1s"}`, "cooldown"},
		{`{"base_model": "testdata", "cooldown": 1e300}`, "cooldown"},
		{`{"base_model": "testdata", "threads": -2}`, "threads"},
		{`{"base_model": "testdata", "max_active_adapters": -2}`, "max_active_adapters"},
		{`{"base_model": "testdata", "context_length": -1}`, "context_length"},
		{`{"base_model": "testdata", "device": "tpu"}`, "device"},
		{`{"base_model": "testdata", "device": "cuda:x"}`, "device"},
		{`{"base_model": "testdata", "type": "shared"}`, "type"},
		{`{"base_model": "testdata", "adapter_sources": ["testdata/nope"]}`, "adapter_sources"},
		{`{"base_model": "testdata", "adapter_sources": ["ftp://x"]}`, "adapter_sources"},
		{`{"base_model": "testdata", "adapter_sources": ["testdata", "."]}`, "adapter_sources"},
		{`{"base_model": "testdata", "preloaded_adapters": ["../escape"]}`, "preloaded_adapters"},
		{`[]`, "body"},
		{`{"base_model": "testdata"} {}`, "body"},
		{``, "body"},
	}
	for _, c := range cases {
		_, err := DecodeSpec([]byte(c.in))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("DecodeSpec(%s) = %v, want an error naming %q", c.in, err, c.field)
		}
	}
}

func TestDecodeSpecHubBaseModels(t *testing.T) {
	for _, m := range []string{"hf://org/name", "hf://org/name@v1", "hf://org/name-GGUF/q8/name-Q8_0.gguf@refs/pr/1"} {
		if _, err := DecodeSpec([]byte(`{"base_model": "` + m + `"}`)); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
}

func TestDecodeCreate(t *testing.T) {
	name, s, err := DecodeCreate([]byte(`{"name": "my-model", "base_model": "testdata", "max_replicas": 2}`))
	if err != nil || name != "my-model" || s.MaxReplicas != 2 {
		t.Fatalf("DecodeCreate = %q %+v %v", name, s, err)
	}
	for in, field := range map[string]string{
		`{"base_model": "testdata"}`:                       "name",
		`{"name": "My_Model", "base_model": "testdata"}`:   "name",
		`{"name": "-a", "base_model": "testdata"}`:         "name",
		`{"name": 7, "base_model": "testdata"}`:            "name",
		`{"name": "` + strings.Repeat("a", 64) + `"}`:      "name",
		`{"name": "ok", "base_model": "testdata", "x": 1}`: "x",
	} {
		_, _, err := DecodeCreate([]byte(in))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("DecodeCreate(%s) = %v, want an error naming %q", in, err, field)
		}
	}
}

func TestMergeSpec(t *testing.T) {
	cur, err := DecodeSpec([]byte(`{"base_model": "testdata", "max_replicas": 3, "threads": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	next, err := MergeSpec(cur, []byte(`{"max_replicas": 2, "threads": null}`))
	if err != nil {
		t.Fatal(err)
	}
	if next.MaxReplicas != 2 || next.Threads != 0 || next.BaseModel != "testdata" {
		t.Fatalf("merged %+v", next)
	}
	if cur.NeedsNewReplicas(next) != true {
		t.Error("a threads change must need new replicas")
	}
	scaled, _ := MergeSpec(cur, []byte(`{"max_replicas": 5, "cooldown": "3s"}`))
	if cur.NeedsNewReplicas(scaled) {
		t.Error("a scaling change must not need new replicas")
	}
	if _, err := MergeSpec(cur, []byte(`{"min_replicas": 4}`)); err == nil {
		t.Error("a patch making min > max was accepted")
	}
}

// FuzzDecodeSpec: any input either decodes to a spec that survives a JSON
// round trip unchanged, or is refused with a FieldError; never a panic.
func FuzzDecodeSpec(f *testing.F) {
	f.Add([]byte(`{"base_model": "testdata", "min_replicas": 0, "max_replicas": 2, "cooldown": "2s"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeSpec(data)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("error %v is not a FieldError naming a field", err)
			}
			return
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeSpec(b)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", b, err)
		}
		if !reflect.DeepEqual(s, again) {
			t.Fatalf("round trip changed %+v into %+v", s, again)
		}
	})
}

// FuzzMergeSpec: any patch either gives a spec that validates, or is refused
// with a FieldError; the spec patched from is never changed.
func FuzzMergeSpec(f *testing.F) {
	f.Add([]byte(`{"max_replicas": 3, "threads": null}`))
	f.Fuzz(func(t *testing.T, patch []byte) {
		cur, err := DecodeSpec([]byte(`{"base_model": "testdata", "max_replicas": 2, "preloaded_adapters": ["a"]}`))
		if err != nil {
			t.Fatal(err)
		}
		before, _ := json.Marshal(cur)
		next, err := MergeSpec(cur, patch)
		if after, _ := json.Marshal(cur); string(after) != string(before) {
			t.Fatalf("MergeSpec changed the spec it patched: %s -> %s", before, after)
		}
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("error %v is not a FieldError naming a field", err)
			}
			return
		}
		if err := next.Validate(); err != nil {
			t.Fatalf("merged spec does not validate: %v", err)
		}
	})
}
