package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

func init() { register(newUpCommand) }

// newUpCommand runs everything on this machine that exists as a part: one pod
// (engine and sidecar).
func newUpCommand() *cobra.Command {
	var eo engineOptions
	var so sidecarOptions
	cmd := &cobra.Command{
		Use:   "up [--model PATH] [--adapter-root DIR]",
		Short: "Run Graft on this machine: one pod serving a model and its adapters",
		Long: `Run the whole platform on this machine. Without --model it serves the demo:
the stories260K Hugging Face model and its four LoRA adapters from
$GRAFT_TESTDATA (default ../shared/models beside the repository). It prints a
curl and an OpenAI SDK example to paste, then serves until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := demoDefaults(&eo, &so); err != nil {
				return err
			}
			opts := eo.serverOptions()
			printExamples(cmd.OutOrStdout(), so.listen, opts.ModelID(), so.adapterRoot)
			return runServe(cmd.Context(), &eo, &so)
		},
	}
	addEngineFlags(cmd, &eo)
	addSidecarFlags(cmd, &so)
	return cmd
}

// demoDefaults fills in the stories260K demo when no model was named.
func demoDefaults(eo *engineOptions, so *sidecarOptions) error {
	if eo.model != "" {
		return nil
	}
	dir := demoModelsDir()
	demo := filepath.Join(dir, "stories260K", "hf")
	if _, err := os.Stat(demo); dir == "" || err != nil {
		return usageError("no --model given and the demo model is not at $GRAFT_TESTDATA/stories260K/hf;\n" +
			"  point Graft at a model: graft up --model PATH (a .gguf file or a Hugging Face directory)\n" +
			"  or: make up MODEL=PATH")
	}
	eo.model = demo
	if so.adapterRoot == "" {
		so.adapterRoot = filepath.Join(dir, "stories260K", "adapters")
	}
	if eo.servedName == "" {
		eo.servedName = "stories260K"
	}
	return nil
}

func printExamples(w io.Writer, listen, model, adapterRoot string) {
	adapter := model
	if adapterRoot != "" {
		if entries, err := os.ReadDir(adapterRoot); err == nil && len(entries) > 0 {
			adapter = entries[0].Name()
		}
	}
	fmt.Fprintf(w, `Graft is starting on http://%[1]s (model %[2]q).

Try it:

  curl -s http://%[1]s/v1/models

  curl -s http://%[1]s/v1/chat/completions -H 'Content-Type: application/json' \
    -d '{"model": %[3]q, "messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 48}'

  # OpenAI SDK (npm install openai; node --input-type=module):
  import OpenAI from 'openai';
  const client = new OpenAI({ baseURL: 'http://%[1]s/v1', apiKey: 'unused' });
  const r = await client.completions.create({ model: %[3]q, prompt: 'Once upon a time', max_tokens: 48 });
  console.log(r.choices[0].text);

`, listen, model, adapter)
}
