package adaptersource

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	good := map[string]Ref{
		"support-bot":             {Kind: KindLocal, Name: "support-bot"},
		"team/support-bot":        {Kind: KindLocal, Name: "team/support-bot"},
		"hf://org/name":           {Kind: KindHub, Name: "org/name", Revision: "main"},
		"hf://gpt2":               {Kind: KindHub, Name: "gpt2", Revision: "main"},
		"hf://org/name@v1.2":      {Kind: KindHub, Name: "org/name", Revision: "v1.2"},
		"hf://org/name@refs/pr/1": {Kind: KindHub, Name: "org/name", Revision: "refs/pr/1"},
		"s3://bucket/a/b":         {Kind: KindS3, Bucket: "bucket", Name: "a/b"},
		"s3://bucket/a/b/":        {Kind: KindS3, Bucket: "bucket", Name: "a/b"},
		"s3://my.bucket":          {Kind: KindS3, Bucket: "my.bucket"},
	}
	for id, want := range good {
		got, err := ParseRef(id)
		if err != nil || got != want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", id, got, err, want)
		}
	}
	bad := []string{"", "../x", "/abs", "a/../b", "a/./b", "a//b", "a/", "x y", "a\x00b", `a\b`,
		"hf://", "hf://a/b/c", "hf://org/name@", "hf://org/name@a/../b", "hf://../x",
		"s3://", "s3://B", "s3://ab", "s3://-bucket", "s3://bucket/../x", "s3://bucket//x",
		"gs://bucket/x", "c:/x", strings.Repeat("a", 600)}
	for _, id := range bad {
		if r, err := ParseRef(id); !errors.Is(err, ErrBadRef) {
			t.Errorf("ParseRef(%q) = %+v, %v; want ErrBadRef", id, r, err)
		}
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"support-bot", "team/bot", "hf://org/name@main", "hf://org/name@refs/pr/1",
		"s3://bucket/prefix/", "../etc/passwd", "hf://a/b/c", "s3://B/x", "a//b", "hf://x@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		r, err := ParseRef(id)
		if err != nil {
			if !errors.Is(err, ErrBadRef) {
				t.Fatalf("error does not wrap ErrBadRef: %v", err)
			}
			return
		}
		// Whatever parses is a canonical id away from itself and cannot climb
		// out of a directory.
		again, err := ParseRef(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseRef(%q) = %+v, but its String %q parses to %+v, %v", id, r, r.String(), again, err)
		}
		for _, seg := range strings.Split(r.Name+"/"+r.Revision, "/") {
			if seg == ".." || seg == "." || strings.ContainsAny(seg, "\\\x00:") {
				t.Fatalf("ParseRef(%q) let segment %q through: %+v", id, seg, r)
			}
		}
		if strings.HasPrefix(r.Name, "/") {
			t.Fatalf("absolute name from %q: %+v", id, r)
		}
	})
}
