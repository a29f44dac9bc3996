package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/graft-ai/graft/sidecar/modelsource"
)

// deviceFlagHelp documents --device for generate, engine and serve.
const deviceFlagHelp = "compute device: auto (CUDA when a GPU answers, else CPU), cpu, cuda or cuda:N"

// modelFlagHelp documents --model wherever a base model is loaded.
const modelFlagHelp = "a .gguf file, a Hugging Face directory, or hf://org/name[/FILE.gguf][@revision] fetched from the Hub (HF_ENDPOINT, HF_TOKEN) into --model-cache"

// modelFlags name a model to load and where Hub models are cached.
type modelFlags struct {
	model, cache string
}

func (m *modelFlags) add(f *pflag.FlagSet, help string) {
	f.StringVar(&m.model, "model", "", help)
	addModelCacheFlag(f, &m.cache)
}

func addModelCacheFlag(f *pflag.FlagSet, cache *string) {
	f.StringVar(cache, "model-cache", "", "where hf:// models are cached (default: the user cache dir's graft/models)")
}

// resolve returns the local path to load: the flag itself, or the cached
// download of an hf:// model (fetched now if needed), and the model's Hub id
// ("" for a local path).
func (m *modelFlags) resolve(ctx context.Context) (path, hubID string, err error) {
	got, err := modelsource.Open(ctx, m.model, m.cache)
	if err != nil {
		return "", "", err
	}
	return got.Path, got.Ref.Repo, nil
}

// kvDtypeFlagHelp documents --kv-cache-dtype wherever an engine is built.
const kvDtypeFlagHelp = "KV cache element type: auto (f32), f32, or f16 (half the memory and the bytes a decode step reads; CPU only)"

// addModelFlags adds the flags of every command that loads a model and runs it.
// quantActFlagHelp describes --quant-activations, which graft bench engine has too.
const quantActFlagHelp = "how quantized weight matrices (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, K-quants) meet the activations on the CPU: int8 quantizes each activation row to 8 bits and uses integer dots as llama.cpp does; float keeps float32 activations, each output exact on the dequantized weights but slower"

// noRepackFlagHelp describes --no-repack, which graft bench engine has too.
const noRepackFlagHelp = "keep Q4_0, Q4_1, Q5_0, Q5_1 and K-quant (Q2_K, Q3_K, Q4_K, Q6_K) weights as the file stores them instead of packing them for the CPU kernels (as llama.cpp's --no-repack); packed, single-stream decode kernels run 1.2-3x faster, the outputs of all but Q4_0 a float32 rounding apart"

// cpuFlags are the CPU backend's settings.
type cpuFlags struct {
	quantAct string
	noRepack bool
}

func addModelFlags(f *pflag.FlagSet, model *modelFlags, threads *int, device *string, c *cpuFlags) {
	model.add(f, "model: "+modelFlagHelp+" (required)")
	f.IntVar(threads, "threads", 0, "CPU threads (0: all cores)")
	f.StringVar(device, "device", "cpu", deviceFlagHelp+" (default cpu until the CUDA backend has passed its device checks)")
	f.StringVar(&c.quantAct, "quant-activations", "int8", quantActFlagHelp)
	f.BoolVar(&c.noRepack, "no-repack", false, noRepackFlagHelp)
}
