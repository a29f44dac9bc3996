package main

import (
	"context"
	"testing"

	"github.com/spf13/cobra"
)

// TestPrefixCachingFlag: the prefix cache is on unless --prefix-caching=false.
func TestPrefixCachingFlag(t *testing.T) {
	for _, c := range []struct {
		args     []string
		disabled bool
	}{{nil, false}, {[]string{"--prefix-caching=false"}, true}, {[]string{"--prefix-caching"}, false}} {
		var o engineOptions
		cmd := &cobra.Command{}
		addEngineFlags(cmd, &o)
		if err := cmd.ParseFlags(c.args); err != nil {
			t.Fatal(err)
		}
		opts, err := o.serverOptions(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := opts.Engine.DisablePrefixCaching; got != c.disabled {
			t.Errorf("%q: DisablePrefixCaching = %v, want %v", c.args, got, c.disabled)
		}
	}
}
