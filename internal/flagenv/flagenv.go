// Package flagenv gives every command-line flag an environment variable of the same
// name (GRAFT_ + upper-case name, dashes as underscores), so a flag can be set in a
// container spec or a systemd unit without rewriting the command line.
package flagenv

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// Prefix starts every variable name.
const Prefix = "GRAFT_"

// Name returns the environment variable that sets flag name.
func Name(flag string) string {
	return Prefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Apply sets each flag in fs that was not given on the command line from its
// environment variable, when that is set. A flag given explicitly wins.
func Apply(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		v, ok := os.LookupEnv(Name(f.Name))
		if !ok {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("environment %s=%q: %w", Name(f.Name), v, e)
		}
	})
	return err
}

// Annotate appends the variable name to each flag's usage text so --help shows it.
func Annotate(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		suffix := " [$" + Name(f.Name) + "]"
		if !strings.HasSuffix(f.Usage, suffix) {
			f.Usage += suffix
		}
	})
}
