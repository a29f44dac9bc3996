package openai

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	enginev1 "github.com/graft-ai/graft/proto/graft/engine/v1"
)

// ErrUnknownAdapter is what an AdapterSource returns for an id it cannot find.
var ErrUnknownAdapter = errors.New("unknown adapter")

// AdapterSource resolves an adapter id to a local directory holding
// adapter_config.json and adapter_model.safetensors, fetching it if it must.
type AdapterSource interface {
	Resolve(ctx context.Context, id string) (dir string, err error)
	// List returns the ids available without a fetch, for /v1/models.
	List(ctx context.Context) ([]string, error)
}

// LocalDir is an AdapterSource over one folder: each subfolder holding an
// adapter_config.json is an adapter whose id is the subfolder's name.
type LocalDir struct{ Root string }

// Resolve returns Root/id; ids that are not one plain folder name are unknown,
// so no request can reach outside Root.
func (d LocalDir) Resolve(_ context.Context, id string) (string, error) {
	if !validAdapterID(id) {
		return "", fmt.Errorf("%w: %q", ErrUnknownAdapter, id)
	}
	dir := filepath.Join(d.Root, id)
	if _, err := os.Stat(filepath.Join(dir, "adapter_config.json")); err != nil {
		return "", fmt.Errorf("%w: %q", ErrUnknownAdapter, id)
	}
	return dir, nil
}

// List returns the adapter folders under Root, sorted.
func (d LocalDir) List(context.Context) ([]string, error) {
	entries, err := os.ReadDir(d.Root)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(d.Root, e.Name(), "adapter_config.json")); err == nil && validAdapterID(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}

func validAdapterID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, `/\`+"\x00") && filepath.Base(id) == id
}

// adapterLoader makes sure an adapter is loaded in the engine before its first
// request, loading each adapter once however many requests ask at the same time.
type adapterLoader struct {
	source   AdapterSource
	engine   enginev1.EngineClient
	group    singleflight.Group
	onLoaded func(id string)
	mu       sync.Mutex
	loaded   map[string]bool
}

// loadTimeout bounds one fetch-and-load, which runs detached from the request
// that started it so a client hanging up does not fail the others waiting on it.
const loadTimeout = 10 * time.Minute

func (l *adapterLoader) ensure(ctx context.Context, id string) error {
	l.mu.Lock()
	done := l.loaded[id]
	l.mu.Unlock()
	if done {
		return nil
	}
	if l.source == nil {
		return fmt.Errorf("%w: %q", ErrUnknownAdapter, id)
	}
	ch := l.group.DoChan(id, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		defer cancel()
		dir, err := l.source.Resolve(lctx, id)
		if err != nil {
			return nil, err
		}
		if _, err := l.engine.LoadAdapter(lctx, &enginev1.LoadAdapterRequest{AdapterId: id, Path: dir}); err != nil {
			return nil, err
		}
		l.mu.Lock()
		l.loaded[id] = true
		l.mu.Unlock()
		if l.onLoaded != nil {
			l.onLoaded(id)
		}
		return nil, nil
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// forget drops an adapter the engine no longer has, so the next request reloads it.
func (l *adapterLoader) forget(id string, err error) {
	if status.Code(err) == codes.NotFound {
		l.mu.Lock()
		delete(l.loaded, id)
		l.mu.Unlock()
	}
}
