package mapped

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenMapsWholeFile(t *testing.T) {
	want := []byte("graft maps this file read-only\x00\x01\x02")
	m, err := Open(writeTemp(t, want))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Data, want) {
		t.Fatalf("Data = %q, want %q", m.Data, want)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if m.Data != nil {
		t.Error("Data still set after Close")
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenEmptyFile(t *testing.T) {
	path := writeTemp(t, nil)
	m, err := Open(path)
	if err == nil {
		m.Close()
		t.Fatal("Open of an empty file succeeded")
	}
	if !strings.Contains(err.Error(), "empty") || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q should name the path and say it is empty", err)
	}
}

func TestOpenMissingFile(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "absent"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}
