package adaptersource

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/graft-ai/graft/internal/testmodels"
)

// fakeS3 runs gofakes3's in-memory server on 127.0.0.1 and returns a client for it.
func fakeS3(t *testing.T) *s3.Client {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

func putObject(t *testing.T, c *s3.Client, bucket, key string, body []byte) {
	t.Helper()
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

// uploadAdapter puts a stories260K adapter under prefix and returns its files.
func uploadAdapter(t *testing.T, c *s3.Client, bucket, prefix, adapter string) map[string][]byte {
	t.Helper()
	dir := testmodels.Path(t, "stories260K", "adapters", adapter)
	files := map[string][]byte{}
	for _, name := range AdapterFiles {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = b
		putObject(t, c, bucket, prefix+"/"+name, b)
	}
	return files
}

func s3Cache(t *testing.T) (*Cache, *s3.Client, string) {
	t.Helper()
	client := fakeS3(t)
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("adapters")}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c, err := OpenCache(dir, Sources{S3: &S3{Client: client}})
	if err != nil {
		t.Fatal(err)
	}
	return c, client, dir
}

func TestS3Fetch(t *testing.T) {
	c, client, _ := s3Cache(t)
	files := uploadAdapter(t, client, "adapters", "stories/qv-r4", "qv-r4")
	dir, err := c.Get(context.Background(), "s3://adapters/stories/qv-r4")
	if err != nil {
		t.Fatal(err)
	}
	sameFiles(t, dir, files)
	m, err := c.Manifest("s3://adapters/stories/qv-r4/")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(files[WeightsFile])
	if m.Files[1].SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("manifest sha256 %s, want %x", m.Files[1].SHA256, sum)
	}
}

func TestS3SidecarDigest(t *testing.T) {
	c, client, dir := s3Cache(t)
	files := uploadAdapter(t, client, "adapters", "good", "all-r8")
	sum := sha256.Sum256(files[WeightsFile])
	putObject(t, client, "adapters", "good/"+WeightsFile+".sha256",
		[]byte(hex.EncodeToString(sum[:])+"  "+WeightsFile+"\n"))
	if _, err := c.Get(context.Background(), "s3://adapters/good"); err != nil {
		t.Fatalf("matching .sha256 sidecar: %v", err)
	}
	if err := c.Remove("s3://adapters/good"); err != nil {
		t.Fatal(err)
	}

	uploadAdapter(t, client, "adapters", "bad", "all-r8")
	putObject(t, client, "adapters", "bad/"+WeightsFile+".sha256", []byte(hex.EncodeToString(make([]byte, 32))))
	if _, err := c.Get(context.Background(), "s3://adapters/bad"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("mismatching .sha256 sidecar: %v, want ErrCorrupt", err)
	}
	uploadAdapter(t, client, "adapters", "junk", "all-r8")
	putObject(t, client, "adapters", "junk/"+ConfigFile+".sha256", []byte("not a digest"))
	if _, err := c.Get(context.Background(), "s3://adapters/junk"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unreadable .sha256 sidecar: %v, want ErrCorrupt", err)
	}
	assertEmpty(t, c, dir)
}

func TestS3NotFound(t *testing.T) {
	c, client, dir := s3Cache(t)
	putObject(t, client, "adapters", "half/"+ConfigFile, []byte(`{"r":4,"target_modules":["q_proj"]}`))
	for _, id := range []string{"s3://adapters/missing", "s3://adapters/half", "s3://no-such-bucket/x"} {
		if _, err := c.Get(context.Background(), id); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", id, err)
		}
	}
	assertEmpty(t, c, dir)
}

// TestS3ObjectChecksum serves gofakes3 (which keeps no checksums) behind a
// handler that adds the x-amz-checksum-sha256 header S3 sends for objects
// uploaded with one.
func TestS3ObjectChecksum(t *testing.T) {
	for _, tc := range []struct {
		name string
		good bool
	}{{"right", true}, {"wrong", false}} {
		t.Run(tc.name, func(t *testing.T) {
			backend := gofakes3.New(s3mem.New()).Server()
			var digest string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/"+WeightsFile) {
					w.Header().Set("x-amz-checksum-sha256", digest)
					w.Header().Set("x-amz-checksum-type", "FULL_OBJECT")
				}
				backend.ServeHTTP(w, r)
			}))
			defer srv.Close()
			client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
				Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")})
			client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("adapters")})
			files := uploadAdapter(t, client, "adapters", "x", "qv-r4")
			sum := sha256.Sum256(files[WeightsFile])
			if !tc.good {
				sum[0] ^= 1
			}
			digest = base64.StdEncoding.EncodeToString(sum[:])
			dir := t.TempDir()
			c, err := OpenCache(dir, Sources{S3: &S3{Client: client}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Get(context.Background(), "s3://adapters/x")
			if tc.good && err != nil {
				t.Fatalf("matching checksum: %v", err)
			}
			if !tc.good {
				if err == nil {
					t.Fatal("mismatching x-amz-checksum-sha256 accepted")
				}
				t.Log(err)
				assertEmpty(t, c, dir)
			}
		})
	}
}
