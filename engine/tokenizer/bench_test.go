package tokenizer

import (
	"os"
	"strings"
	"testing"

	"github.com/graft-ai/graft/internal/testmodels"
)

const benchParagraph = `The quick brown fox jumps over the lazy dog. In 2026, the weather models ` +
	`predicted 37.5°C across the valley — “unprecedented”, said Dr. O'Neil, who'd tracked it ` +
	`since 1998. Meanwhile, the café on 5th Avenue served naïve tourists crème brûlée; ` +
	`日本語のテキスト and Привет, мир! appeared on the menu.    Indented code: def f(x):\n` +
	`    return x * 2  # doubled\n`

func BenchmarkEncodeOlmo(b *testing.B) {
	tok := loadFixture(b, "olmo-dolma2")
	text := strings.Repeat(benchParagraph, 4)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := tok.Encode(text, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadOlmo(b *testing.B) {
	data, err := os.ReadFile(testmodels.Path(b, "tokenizers", "olmo-dolma2", "tokenizer.json"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Load(data, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeStoriesGGUF(b *testing.B) {
	v, err := readGGUFVocab(testmodels.Path(b, "stories260K", "gguf", "stories260K.gguf"))
	if err != nil {
		b.Fatal(err)
	}
	tok, err := FromSPM(v)
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat(benchParagraph, 4)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := tok.Encode(text, true); err != nil {
			b.Fatal(err)
		}
	}
}
