package peft

import (
	"errors"
	"fmt"
	"io/fs"
)

// missingError says an adapter file is absent; errors.Is(err, fs.ErrNotExist)
// holds for it, so callers can tell "not an adapter" from "a broken one".
type missingError struct{ file string }

func (e *missingError) Error() string        { return e.file + " is missing" }
func (e *missingError) Is(target error) bool { return target == fs.ErrNotExist }

// fileError words an I/O error on one of the adapter's files by the file's
// name, dropping the path that *fs.PathError carries.
func fileError(name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &missingError{file: name}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s cannot be read: %v", name, err)
}
