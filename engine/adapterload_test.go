package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/graft-ai/graft/engine/lora"
	"github.com/graft-ai/graft/engine/model"
)

// gatedLoader reads adapters with lora.Load, except that once armed the next
// read waits until released: a slow disk on demand.
type gatedLoader struct {
	mu      sync.Mutex
	gate    chan struct{} // the armed read waits on it; nil when none is armed
	started chan struct{}
}

// arm makes the next read wait until release is closed; started is closed
// when that read begins.
func (g *gatedLoader) arm() (started, release chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate, g.started = make(chan struct{}), make(chan struct{})
	return g.started, g.gate
}

func (g *gatedLoader) load(dir string, mc *model.Config, maxRank int) (*lora.Adapter, error) {
	g.mu.Lock()
	gate, started := g.gate, g.started
	g.gate = nil
	g.mu.Unlock()
	if gate != nil {
		close(started)
		<-gate
	}
	return lora.Load(dir, mc, maxRank)
}

// TestSlowAdapterReadDoesNotStallDecoding: while an evicted adapter is read
// back from a disk that does not answer, a base-model sequence keeps
// decoding and the adapter's request waits (counted as waiting); once the read
// completes, the request gives the adapter's usual tokens.
func TestSlowAdapterReadDoesNotStallDecoding(t *testing.T) {
	l := loadStories(t, "gguf")
	ref := newEngine(t, l, Config{})
	loadAdapters(t, ref, "qv-r4")
	adReq := Request{Prompt: forkPrompt(), Adapter: "qv-r4", Sampling: greedyParams(), MaxTokens: 20}
	want := ids(run(t, ref, adReq))

	g := &gatedLoader{}
	e := newEngine(t, l, Config{MaxActiveAdapters: 1, MaxCachedAdapters: 1, AdapterLoader: g.load})
	loadAdapters(t, e, "qv-r4", "all-r8") // the second evicts the first from host memory
	if a := e.Adapters()[slices.IndexFunc(e.Adapters(), func(a AdapterInfo) bool { return a.ID == "qv-r4" })]; a.Tier != TierDisk {
		t.Fatalf("qv-r4 is %s, want evicted to disk", a.Tier)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, err := e.Generate(ctx, Request{Prompt: []int32{1}, Sampling: greedyParams(), MaxTokens: 1000, IgnoreEOS: true})
	if err != nil {
		t.Fatal(err)
	}
	started, release := g.arm()
	slow, err := e.Generate(ctx, adReq)
	if err != nil {
		t.Fatal(err)
	}
	<-started
	for range 50 {
		if _, ok := base.Next(ctx); !ok {
			t.Fatal("base stream ended early")
		}
	}
	for _, a := range e.Adapters() {
		if a.ID == "qv-r4" && (a.Waiting != 1 || a.Running != 0) {
			t.Fatalf("qv-r4 during its read: %d running, %d waiting; want 0, 1", a.Running, a.Waiting)
		}
	}
	close(release)
	ev := slow.Collect(ctx)
	if got := ids(ev); !slices.Equal(got, want) || ev.Err != nil {
		t.Fatalf("after the read: %v (%v), want %v", got, ev.Err, want)
	}
	base.Cancel()
	base.Collect(context.Background())
	assertNoLeak(t, e)
}

// TestAdapterDirsConfine: with AdapterDirs set, LoadAdapter reads only inside
// them, and answers a path outside, missing or not, or a symlink leading out
// with one message.
func TestAdapterDirsConfine(t *testing.T) {
	l := loadStories(t, "gguf")
	inside := writeAdapter(t, adapterDir(t, "qv-r4"), nil, nil)
	root := filepath.Dir(inside)
	e := newEngine(t, l, Config{AdapterDirs: []string{root}})
	if _, err := e.LoadAdapter("in", inside); err != nil {
		t.Fatalf("adapter inside the directories: %v", err)
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink(adapterDir(t, "all-r8"), link); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{
		adapterDir(t, "all-r8"),
		"/nonexistent/adapter",
		filepath.Join(inside, "..", "..", "elsewhere"),
		link,
	} {
		_, err := e.LoadAdapter("out", dir)
		re, ok := err.(*RequestError)
		if !ok || re.Msg != errOutsideDirs.Msg || re.Param != "path" {
			t.Errorf("LoadAdapter(%s) = %v, want the outside-directories refusal", dir, err)
		}
	}
	if len(e.Adapters()) != 1 {
		t.Fatalf("%d adapters registered, want 1", len(e.Adapters()))
	}
}
