package adaptersource

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/graft-ai/graft/internal/testmodels"
)

// closedAddr is a 127.0.0.1 port nothing listens on: connections are refused.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// checkSafe: a client-facing message names the adapter and shows no address,
// path or Go type.
func checkSafe(t *testing.T, err error, id string, leaks ...string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: %T %v, want *Error", id, err, err)
	}
	msg := e.Error()
	if !strings.Contains(msg, "`"+id+"`") {
		t.Errorf("%s: message %q does not name the adapter", id, msg)
	}
	for _, bad := range append(leaks, "127.0.0.1", "lookup", "dial tcp", "adaptersource.", "*url.Error") {
		if strings.Contains(msg, bad) {
			t.Errorf("%s: message %q shows %q", id, msg, bad)
		}
	}
	return e
}

// TestUnreachableSources: a remote source that refuses connections is
// ErrUnavailable with the source named, never its address.
func TestUnreachableSources(t *testing.T) {
	addr := closedAddr(t)
	s3c := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + addr), UsePathStyle: true,
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		RetryMaxAttempts: 1,
	})
	c, err := OpenCache(t.TempDir(), Sources{Hub: &Hub{Endpoint: "http://" + addr}, S3: &S3{Client: s3c}})
	if err != nil {
		t.Fatal(err)
	}
	for id, src := range map[string]string{"hf://org/all-r8": "hf:// source", "s3://adapters/all-r8": "s3:// source"} {
		_, err := c.Get(context.Background(), id)
		e := checkSafe(t, err, id, addr)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(e.Msg, "could not reach the "+src+": connection refused") {
			t.Errorf("%s: %v (reason %v), want the %s unreachable", id, err, e.Reason, src)
		}
	}
}

// TestDescribeHidesResolver: a DNS failure's text holds the resolver's
// address; the client's message does not.
func TestDescribeHidesResolver(t *testing.T) {
	dns := &net.DNSError{Err: "no such host", Name: "hub.example", Server: "10.0.0.1:53", IsNotFound: true}
	err := fmt.Errorf("hf://org/x@main adapter_config.json: %w", &url.Error{Op: "Head", URL: "http://hub.example/org/x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: dns}})
	e := checkSafe(t, describe("hf://org/x", err), "hf://org/x", "10.0.0.1", "hub.example")
	if e.Reason != ErrUnavailable || !strings.Contains(e.Msg, "host name does not resolve") {
		t.Errorf("%v", e)
	}
	var ne net.Error // a server fault has no Reason; matching must not trip on that
	if errors.As(fmt.Errorf("x: %w", &Error{Msg: "m"}), &ne) {
		t.Error("matched a net.Error")
	}
	e = describe("hf://org/x", fmt.Errorf("get: %w", context.DeadlineExceeded))
	if e.Reason != ErrTimeout || !strings.Contains(e.Msg, "timed out fetching it from the hf:// source") {
		t.Errorf("%v", e)
	}
}

// TestLocalErrorsArePathFree: every local failure names the adapter and the
// problem, and neither the root nor the temp folder.
func TestLocalErrorsArePathFree(t *testing.T) {
	root := t.TempDir()
	copyAdapter(t, testmodels.Path(t, "stories260K", "adapters", "qv-r4"), filepath.Join(root, "team", "ok"))
	os.MkdirAll(filepath.Join(root, "no-weights"), 0o755)
	copyFile(t, filepath.Join(root, "team", "ok", ConfigFile), filepath.Join(root, "no-weights", ConfigFile))
	c := localCache(t, root)
	for id, want := range map[string]struct {
		reason error
		msg    string
	}{
		"..":         {ErrBadRef, `not a valid adapter id: path segment ".." not allowed`},
		"missing":    {ErrNotFound, "there is no adapter by that name"},
		"team":       {ErrNotFound, "adapter_config.json is missing"},
		"no-weights": {ErrInvalid, "adapter_model.safetensors is missing"},
	} {
		_, err := c.Get(context.Background(), id)
		e := checkSafe(t, err, id, root)
		if e.Reason != want.reason || !strings.Contains(e.Msg, want.msg) {
			t.Errorf("%s: %v (reason %v), want %v %q", id, err, e.Reason, want.reason, want.msg)
		}
	}
}

// TestCatalogListsOnlyValid: /v1/models must not offer an adapter that
// cannot load, and an adapter fixed in place is listed again.
func TestCatalogListsOnlyValid(t *testing.T) {
	root := t.TempDir()
	src := testmodels.Path(t, "stories260K", "adapters", "qv-r4")
	for _, name := range []string{"good", "bad-alpha", "truncated"} {
		copyAdapter(t, src, filepath.Join(root, name))
	}
	cfg := filepath.Join(root, "bad-alpha", ConfigFile)
	os.WriteFile(cfg, []byte(`{"r": 4, "lora_alpha": NaN, "target_modules": ["q_proj"]}`), 0o644)
	w := filepath.Join(root, "truncated", WeightsFile)
	os.Truncate(w, 100)
	os.MkdirAll(filepath.Join(root, "empty"), 0o755)
	cat, err := OpenCatalog(context.Background(), t.TempDir(), root)
	if err != nil {
		t.Fatal(err)
	}
	list := func() []string {
		ids, err := cat.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if got := list(); !slices.Equal(got, []string{"good"}) {
		t.Fatalf("List = %v, want only the valid adapter", got)
	}
	copyFile(t, filepath.Join(src, ConfigFile), cfg)
	if got := list(); !slices.Equal(got, []string{"bad-alpha", "good"}) {
		t.Fatalf("after the fix, List = %v", got)
	}
}
