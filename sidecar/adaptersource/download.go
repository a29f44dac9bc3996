package adaptersource

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// expect is what a source declares about a file before it is downloaded. Empty
// fields are unknown and not checked.
type expect struct {
	size    int64  // -1 when unknown
	sha256  string // hex, lower case
	gitSHA1 string // hex git blob id (the Hub's ETag for files not in LFS)
	limit   int64  // most bytes accepted; 0 means MaxFileSize
}

func (w expect) max() int64 {
	if w.limit > 0 {
		return w.limit
	}
	return MaxFileSize
}

// save streams body into dir/name, hashing as it goes, and checks the result
// against want. On any error the partial file is removed.
func save(body io.Reader, dir, name string, want expect) (f File, err error) {
	if want.size > want.max() {
		return File{}, fmt.Errorf("%w: %s declares %d bytes, over the %d-byte limit", ErrCorrupt, name, want.size, want.max())
	}
	path := filepath.Join(dir, name)
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return File{}, err
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	sum := sha256.New()
	var git hash.Hash
	w := io.MultiWriter(out, sum)
	if want.gitSHA1 != "" && want.size >= 0 {
		// A git blob id hashes a "blob <size>\0" header before the content.
		git = sha1.New()
		io.WriteString(git, "blob "+strconv.FormatInt(want.size, 10)+"\x00")
		w = io.MultiWriter(out, sum, git)
	}
	// One byte past the limit tells "too big" from "exactly at the limit".
	n, err := io.Copy(w, io.LimitReader(body, want.max()+1))
	if err != nil {
		return File{}, fmt.Errorf("download %s: %w", name, err)
	}
	if err := out.Sync(); err != nil {
		return File{}, err
	}
	f = File{Name: name, Size: n, SHA256: hex.EncodeToString(sum.Sum(nil))}
	return f, check(f, want, git)
}

func check(f File, want expect, git hash.Hash) error {
	switch {
	case f.Size > want.max():
		return fmt.Errorf("%w: %s is over the %d-byte limit", ErrCorrupt, f.Name, want.max())
	case want.size >= 0 && f.Size != want.size:
		return fmt.Errorf("%w: %s has %d bytes, source declared %d", ErrCorrupt, f.Name, f.Size, want.size)
	case want.sha256 != "" && f.SHA256 != want.sha256:
		return fmt.Errorf("%w: %s has sha256 %s, source declared %s", ErrCorrupt, f.Name, f.SHA256, want.sha256)
	case git != nil && hex.EncodeToString(git.Sum(nil)) != want.gitSHA1:
		return fmt.Errorf("%w: %s has git blob id %x, source declared %s", ErrCorrupt, f.Name, git.Sum(nil), want.gitSHA1)
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
