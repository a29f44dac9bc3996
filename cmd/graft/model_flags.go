package main

import "github.com/spf13/pflag"

// deviceFlagHelp documents --device for generate, engine and serve.
const deviceFlagHelp = "compute device: auto (CUDA when a GPU answers, else CPU), cpu, cuda or cuda:N"

// addModelFlags adds the flags of every command that loads a model and runs it.
func addModelFlags(f *pflag.FlagSet, model *string, threads *int, device *string) {
	f.StringVar(model, "model", "", "model: a .gguf file or a Hugging Face directory (required)")
	f.IntVar(threads, "threads", 0, "CPU threads (0: all cores)")
	f.StringVar(device, "device", "cpu", deviceFlagHelp+" (default cpu until the CUDA backend has passed its device checks)")
}
