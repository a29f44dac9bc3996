package adaptersource

import (
	"os"
	"path/filepath"
	"sync"
	"time"
)

// validity remembers Validate's verdict on local adapter folders, keyed by the
// size and modification time of their files, so listing adapters costs a stat
// per file rather than a header read, and an edited adapter is checked again.
type validity struct {
	mu   sync.Mutex
	seen map[string]verdict
}

type verdict struct {
	stamp [2]fileStamp
	ok    bool
}

type fileStamp struct {
	size int64
	mod  time.Time
}

func (v *validity) ok(dir string) bool {
	var stamp [2]fileStamp
	for i, name := range [2]string{ConfigFile, WeightsFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return false
		}
		stamp[i] = fileStamp{fi.Size(), fi.ModTime()}
	}
	v.mu.Lock()
	got, hit := v.seen[dir]
	v.mu.Unlock()
	if hit && got.stamp == stamp {
		return got.ok
	}
	_, err := Validate(dir)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil {
		v.seen = map[string]verdict{}
	}
	v.seen[dir] = verdict{stamp: stamp, ok: err == nil}
	return err == nil
}
