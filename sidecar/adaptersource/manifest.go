package adaptersource

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// readManifest loads dir's manifest and checks that the files it lists are
// there with their recorded sizes (a cheap guard against tampering or a
// damaged disk; digests are not recomputed).
func readManifest(dir string) (Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, manifestFile))
	if err != nil {
		return Manifest{}, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("%s: %w", dir, err)
	}
	if len(m.Files) != len(AdapterFiles) {
		return Manifest{}, fmt.Errorf("%s: manifest lists %d files, want %d", dir, len(m.Files), len(AdapterFiles))
	}
	for _, f := range m.Files {
		fi, err := os.Stat(filepath.Join(dir, filepath.Base(f.Name)))
		if err != nil {
			return Manifest{}, err
		}
		if fi.Size() != f.Size {
			return Manifest{}, fmt.Errorf("%s: %s has %d bytes, manifest says %d", dir, f.Name, fi.Size(), f.Size)
		}
	}
	return m, nil
}

// writeManifest writes and syncs the manifest, then syncs dir so the files'
// directory entries are durable before the rename that publishes them.
func writeManifest(dir string, m Manifest) error { return WriteSynced(dir, manifestFile, m) }

// WriteSynced writes v as indented JSON to a new file name in dir and syncs
// it and dir: what a download folder's last file needs before the rename that
// publishes the folder.
func WriteSynced(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func isNotEmpty(err error) bool {
	return errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST)
}
