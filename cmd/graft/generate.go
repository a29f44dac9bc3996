package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/grammar"
	"github.com/graft-ai/graft/engine/sample"
	"github.com/graft-ai/graft/engine/server"
)

func init() { register(newGenerateCommand) }

type generateOptions struct {
	model             modelFlags
	prompt, adapter   string
	maxTokens         int
	temperature, topP float32
	minP, repetition  float32
	topK              int
	seed              int64
	stop              []string
	ignoreEOS, asJSON bool
	jsonSchema        string
	jsonObject        bool
	threads           int
	cpu               cpuFlags
	device            string
	kvCacheDtype      string
}

func newGenerateCommand() *cobra.Command {
	var o generateOptions
	cmd := &cobra.Command{
		Use:   "generate --model PATH [--prompt TEXT]",
		Short: "Generate text from a model on this machine's CPU",
		Long: `Generate text with a model file: a .gguf file or a Hugging Face directory
(config.json, model.safetensors, tokenizer.json).

The prompt is encoded with BOS prepended when the model's tokenizer says so;
without --prompt, generation starts from BOS alone. Decoding is greedy unless
--temperature is above 0; --seed makes sampling reproducible.
--json-schema (a JSON schema's text) or --json-object constrains the output
to a JSON document, as the API's response_format does.

With --json it prints one object:
  {"prompt_token_ids": [...], "token_ids": [...generated...], "text": "...", "finish_reason": "stop|length"}`,
		Example: `  graft generate --model ../shared/models/stories260K/gguf/stories260K.gguf --prompt "Once upon a time" --max-tokens 32`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runGenerate(cmd.Context(), cmd.OutOrStdout(), &o, cmd.Flags().Changed("seed"))
		},
	}
	f := cmd.Flags()
	addModelFlags(f, &o.model, &o.threads, &o.device, &o.cpu)
	f.StringVar(&o.kvCacheDtype, "kv-cache-dtype", "auto", kvDtypeFlagHelp)
	f.StringVar(&o.prompt, "prompt", "", "prompt text (default: start from BOS)")
	f.StringVar(&o.adapter, "adapter", "", "LoRA adapter directory (PEFT) to apply")
	f.IntVar(&o.maxTokens, "max-tokens", 256, "most tokens to generate")
	f.Float32Var(&o.temperature, "temperature", 0, "sampling temperature; 0 is greedy")
	f.Float32Var(&o.topP, "top-p", 1, "nucleus sampling: keep the smallest set of tokens with this much probability")
	f.Float32Var(&o.minP, "min-p", 0, "drop tokens less likely than this fraction of the most likely one")
	f.IntVar(&o.topK, "top-k", 0, "keep only the K most likely tokens (0: all)")
	f.Float32Var(&o.repetition, "repetition-penalty", 1, "penalise tokens already in the prompt or output (1: off)")
	f.Int64Var(&o.seed, "seed", 0, "random seed for reproducible sampling")
	f.StringArrayVar(&o.stop, "stop", nil, "stop when this text is generated (repeatable)")
	f.BoolVar(&o.ignoreEOS, "ignore-eos", false, "keep generating past the end-of-sequence token")
	f.BoolVar(&o.asJSON, "json", false, "print one JSON object instead of streaming text")
	f.StringVar(&o.jsonSchema, "json-schema", "", "constrain the output to JSON valid under this schema (the schema's text)")
	f.BoolVar(&o.jsonObject, "json-object", false, "constrain the output to a JSON object")
	_ = cmd.MarkFlagRequired("model")
	return cmd
}

type generateJSON struct {
	PromptTokenIDs []int32 `json:"prompt_token_ids"`
	TokenIDs       []int32 `json:"token_ids"`
	Text           string  `json:"text"`
	FinishReason   string  `json:"finish_reason"`
}

func runGenerate(ctx context.Context, w io.Writer, o *generateOptions, seeded bool) error {
	if o.maxTokens < 1 {
		return usageError("--max-tokens must be at least 1, got %d", o.maxTokens)
	}
	g, err := constraint(o)
	if err != nil {
		return err
	}
	b, closeB, err := server.OpenBackend(o.device, o.threads)
	if err != nil {
		return err
	}
	defer closeB()
	if err := server.SetQuantActivations(b, o.cpu.quantAct); err != nil {
		return usageError("--quant-activations: %v", err)
	}
	server.SetRepack(b, !o.cpu.noRepack)
	path, _, err := o.model.resolve(ctx)
	if err != nil {
		return err
	}
	l, err := engine.Load(path, b)
	if err != nil {
		return err
	}
	defer l.Close()
	prompt, err := promptIDs(l, o.prompt)
	if err != nil {
		return err
	}
	eng, err := engine.New(l, engine.Config{MaxNumSeqs: 1, KVCacheDtype: o.kvCacheDtype})
	if err != nil {
		return err
	}
	defer eng.Close()
	adapterID := ""
	if o.adapter != "" {
		adapterID = filepath.Base(filepath.Clean(o.adapter))
		if _, err := eng.LoadAdapter(adapterID, o.adapter); err != nil {
			return fmt.Errorf("--adapter %s: %w", o.adapter, err)
		}
	}
	sp := sample.Params{Temperature: o.temperature, TopK: o.topK, TopP: o.topP, MinP: o.minP,
		RepetitionPenalty: o.repetition, Seed: uint64(o.seed), HasSeed: seeded}
	stream, err := eng.Generate(ctx, engine.Request{
		Prompt: prompt, Adapter: adapterID, Sampling: sp, MaxTokens: o.maxTokens, Stop: o.stop, IgnoreEOS: o.ignoreEOS,
		Grammar: g,
	})
	if err != nil {
		return usageError("%v", err)
	}
	if o.asJSON {
		return printGenerateJSON(ctx, w, stream)
	}
	return streamText(ctx, w, stream)
}

func promptIDs(l *engine.Loaded, text string) ([]int32, error) {
	tok := l.Tokenizer
	if text == "" {
		bos, ok := tok.BOS()
		if !ok {
			bos = l.Model.Config.BOS
		}
		return []int32{bos}, nil
	}
	return tok.Encode(text, true)
}

func printGenerateJSON(ctx context.Context, w io.Writer, s *engine.Stream) error {
	all := s.Collect(ctx)
	if all.Err != nil {
		return all.Err
	}
	out := generateJSON{PromptTokenIDs: s.PromptIDs, TokenIDs: []int32{}, Text: all.Text, FinishReason: string(all.Finish)}
	for _, t := range all.Tokens {
		out.TokenIDs = append(out.TokenIDs, t.ID)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

func streamText(ctx context.Context, w io.Writer, s *engine.Stream) error {
	for {
		e, ok := s.Next(ctx)
		if !ok {
			fmt.Fprintln(w)
			return ctx.Err()
		}
		fmt.Fprint(w, e.Text)
		if e.Finish != "" {
			fmt.Fprintln(w)
			return e.Err
		}
	}
}

// constraint compiles --json-schema or --json-object; nil without either.
func constraint(o *generateOptions) (*grammar.Grammar, error) {
	switch {
	case o.jsonSchema != "" && o.jsonObject:
		return nil, usageError("--json-schema and --json-object exclude each other")
	case o.jsonObject:
		return grammar.JSONObject(), nil
	case o.jsonSchema == "":
		return nil, nil
	}
	g, err := grammar.Compile([]byte(o.jsonSchema))
	if err != nil {
		return nil, usageError("--json-schema: %v", err)
	}
	return g, nil
}
