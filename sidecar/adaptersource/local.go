package adaptersource

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Local serves adapters that already sit under a root directory, in place.
type Local struct {
	root string // absolute, symlinks resolved
}

// NewLocal returns a Local over root, which must exist.
func NewLocal(root string) (*Local, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("local adapter root: %w", err)
	}
	return &Local{root: real}, nil
}

// Dir returns the adapter directory for a KindLocal ref: root/name with
// symlinks resolved, which must still lie under the root. It does not validate
// the adapter's files. Errors are *Error: clients learn that there is no such
// adapter, never where the root is or where a link points.
func (l *Local) Dir(ref Ref) (string, error) {
	if ref.Kind != KindLocal {
		return "", fmt.Errorf("%w: local source given %s ref %q", ErrBadRef, ref.Kind, ref)
	}
	// ParseRef already refuses "..", absolute paths and odd bytes; the
	// symlink check is what keeps a link inside the root from pointing out.
	p, err := filepath.EvalSymlinks(filepath.Join(l.root, filepath.FromSlash(ref.Name)))
	if os.IsNotExist(err) {
		return "", &Error{Reason: ErrNotFound, Msg: "there is no adapter by that name", Cause: err}
	}
	if err != nil {
		return "", err
	}
	if !within(l.root, p) {
		return "", &Error{Reason: ErrBadRef, Msg: "there is no adapter by that name (it links outside the adapter root)",
			Cause: fmt.Errorf("%q resolves to %s, outside %s", ref.Name, p, l.root)}
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if !fi.IsDir() {
		return "", &Error{Reason: ErrNotFound, Msg: "there is no adapter by that name (it is a file, not a folder)", Cause: fmt.Errorf("%s is not a directory", p)}
	}
	return p, l.filesWithin(p)
}

// filesWithin checks that the adapter's files, if links, also stay under the
// root (a Hugging Face cache snapshot links into its blobs/, which is fine).
// A missing file is left for Validate to name.
func (l *Local) filesWithin(dir string) error {
	for _, name := range AdapterFiles {
		p, err := filepath.EvalSymlinks(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		if !within(l.root, p) {
			return &Error{Reason: ErrBadRef, Msg: name + " links outside the adapter root",
				Cause: fmt.Errorf("%s/%s resolves to %s, outside %s", dir, name, p, l.root)}
		}
	}
	return nil
}

func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
