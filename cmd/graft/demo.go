package main

import (
	"os"
	"path/filepath"
)

// demoModelsDir is where graft up looks for the demo model: $GRAFT_TESTDATA,
// or ../shared/models beside the checkout graft runs in (where make puts the
// shared models). It returns "" when neither is a directory.
func demoModelsDir() string {
	if d := os.Getenv("GRAFT_TESTDATA"); d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			d = abs
		}
		return dirOrEmpty(d)
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dirOrEmpty(filepath.Join(filepath.Dir(dir), "shared", "models"))
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func dirOrEmpty(d string) string {
	if fi, err := os.Stat(d); err == nil && fi.IsDir() {
		return d
	}
	return ""
}
