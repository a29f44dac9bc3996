package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/graft-ai/graft/engine"
	"github.com/graft-ai/graft/engine/chattemplate"
)

func init() {
	register(newTokenizeCommand)
	register(newRenderChatCommand)
}

func newTokenizeCommand() *cobra.Command {
	var model, text string
	var addSpecial, asJSON bool
	cmd := &cobra.Command{
		Use:   "tokenize --model PATH --text TEXT",
		Short: "Print the token ids of a text",
		Long: `Encode text with a model's tokenizer. PATH is a .gguf file or a directory
holding tokenizer.json (weights are not needed). Special tokens such as BOS are
added as the tokenizer's configuration says unless --add-special-tokens=false.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := engine.LoadTokenizer(model)
			if err != nil {
				return err
			}
			ids, err := t.Tokenizer.Encode(text, addSpecial)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"ids": ids})
			}
			parts := make([]string, len(ids))
			for i, id := range ids {
				parts[i] = fmt.Sprintf("%d\t%q", id, t.Tokenizer.Token(id))
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), strings.Join(parts, "\n"))
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "a .gguf file or a tokenizer directory (required)")
	f.StringVar(&text, "text", "", "text to encode")
	f.BoolVar(&addSpecial, "add-special-tokens", true, "add BOS/EOS as the tokenizer's configuration says")
	f.BoolVar(&asJSON, "json", false, `print {"ids": [...]}`)
	_ = cmd.MarkFlagRequired("model")
	return cmd
}

func newRenderChatCommand() *cobra.Command {
	var model, templateFile, messagesFile string
	var addGen, asJSON bool
	cmd := &cobra.Command{
		Use:   "render-chat --model PATH --messages FILE",
		Short: "Render chat messages with a model's chat template",
		Long: `Render OpenAI-style messages (a JSON array in FILE) with the model's chat
template, or with --template FILE: a JSON object shaped like tokenizer_config.json
holding chat_template and optional bos_token/eos_token. A template that calls
raise_exception makes the command exit non-zero with the template's message.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			text, err := renderChat(model, templateFile, messagesFile, addGen)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), map[string]string{"text": text})
			}
			_, err = io.WriteString(cmd.OutOrStdout(), text)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "a .gguf file or a tokenizer directory (required)")
	f.StringVar(&templateFile, "template", "", "tokenizer_config.json-shaped file whose chat_template overrides the model's")
	f.StringVar(&messagesFile, "messages", "", "JSON file holding the messages (required)")
	f.BoolVar(&addGen, "add-generation-prompt", false, "end with the assistant turn's opening")
	f.BoolVar(&asJSON, "json", false, `print {"text": "..."}`)
	_ = cmd.MarkFlagRequired("model")
	_ = cmd.MarkFlagRequired("messages")
	return cmd
}

func renderChat(model, templateFile, messagesFile string, addGen bool) (string, error) {
	data, err := os.ReadFile(messagesFile)
	if err != nil {
		return "", err
	}
	msgs, err := chattemplate.ParseMessages(data)
	if err != nil {
		return "", usageError("%s: %v", messagesFile, err)
	}
	t, err := engine.LoadTokenizer(model)
	if err != nil {
		return "", err
	}
	tmpl, vars := t.Chat, t.ChatVars
	if templateFile != "" {
		cfg, err := chattemplate.LoadConfig(templateFile)
		if err != nil {
			return "", err
		}
		if tmpl, err = cfg.Template(""); err != nil {
			return "", fmt.Errorf("%s: %w", templateFile, err)
		}
		for k, v := range cfg.Tokens {
			vars[k] = v
		}
	}
	if tmpl == nil {
		if tmpl, err = chattemplate.New(chattemplate.FallbackTemplate); err != nil {
			return "", err
		}
	}
	return tmpl.Render(msgs, addGen, vars)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
