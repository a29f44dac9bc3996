package flagenv

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestApply(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	maxTokens := fs.Int("max-tokens", 16, "limit")
	model := fs.String("model", "", "path")
	temp := fs.Float64("temperature", 0, "t")
	t.Setenv("GRAFT_MAX_TOKENS", "99")
	t.Setenv("GRAFT_MODEL", "from-env")
	if err := fs.Parse([]string{"--model", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	if err := Apply(fs); err != nil {
		t.Fatal(err)
	}
	if *maxTokens != 99 {
		t.Errorf("max-tokens = %d, want 99 from GRAFT_MAX_TOKENS", *maxTokens)
	}
	if *model != "from-flag" {
		t.Errorf("model = %q, want the explicit flag to win over the environment", *model)
	}
	if *temp != 0 {
		t.Errorf("temperature = %v, want the default when neither is set", *temp)
	}
}

func TestApplyBadValue(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.Int("max-tokens", 16, "limit")
	t.Setenv("GRAFT_MAX_TOKENS", "lots")
	err := Apply(fs)
	if err == nil || !strings.Contains(err.Error(), "GRAFT_MAX_TOKENS") {
		t.Fatalf("err = %v, want an error naming GRAFT_MAX_TOKENS", err)
	}
}

func TestAnnotate(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.String("log-format", "text", "log format")
	Annotate(fs)
	Annotate(fs)
	if got := fs.Lookup("log-format").Usage; got != "log format [$GRAFT_LOG_FORMAT]" {
		t.Errorf("usage = %q", got)
	}
}
