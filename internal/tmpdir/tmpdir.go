// Package tmpdir makes temporary folders that do not outlive their owner.
// A process killed by SIGKILL cannot remove the folders it made (an engine's
// socket folder, a replica's TMPDIR); on a laptop or a CI machine they pile
// up in /tmp. Each folder made here holds a lock file that its process keeps
// locked until it removes the folder. The kernel drops the lock when the
// process dies, however it dies, so the next Make of the same kind finds the
// folder's lock free and removes the folder. A flock, unlike a process id,
// means the same thing across PID namespaces that share the folder.
package tmpdir

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// lockName is the lock file in each folder. A folder without one (made by an
// older graft, or by anything else) is never swept.
const lockName = ".graft-owner.lock"

// Dir is a temporary folder owned by this process. Keep it reachable until
// Remove: the lock file's descriptor closes when the Dir is collected, and
// then another process's Make may sweep the folder.
type Dir struct {
	Path string
	lock *os.File
}

// Make creates a folder named prefix plus a random suffix in parent (the
// system's temporary folder when parent is ""), mode 0700, after removing
// the stale folders of the same prefix there.
func Make(parent, prefix string) (*Dir, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	Sweep(parent, prefix)
	path, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return nil, err
	}
	lock, err := takeLock(path)
	if err != nil {
		os.RemoveAll(path)
		return nil, err
	}
	return &Dir{Path: path, lock: lock}, nil
}

// takeLock locks a file under a temporary name and only then renames it to
// lockName, so a sweep never sees the lock file unlocked while its folder
// is being made.
func takeLock(dir string) (*os.File, error) {
	tmp := filepath.Join(dir, lockName+".new")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: tmp, Err: err}
	}
	if err := os.Rename(tmp, filepath.Join(dir, lockName)); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Remove removes the folder and gives up its lock.
func (d *Dir) Remove() error {
	err := os.RemoveAll(d.Path)
	return errors.Join(err, d.lock.Close())
}

// Sweep removes the folders named prefix* in parent whose owner is gone,
// and returns how many it removed. Folders it cannot judge or remove (no
// lock file, another user's) are left alone.
func Sweep(parent, prefix string) int {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return 0
	}
	removed := 0
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		if removeIfOrphaned(dir) {
			removed++
		}
	}
	if removed > 0 {
		slog.Info("removed temporary folders whose process had died", "parent", parent, "prefix", prefix, "count", removed)
	}
	return removed
}

// removeIfOrphaned removes dir when its lock can be taken, holding the lock
// while it does, so a sweep running beside it leaves dir to this one.
func removeIfOrphaned(dir string) bool {
	f, err := os.Open(filepath.Join(dir, lockName))
	if err != nil {
		return false
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return false
	}
	return os.RemoveAll(dir) == nil
}
