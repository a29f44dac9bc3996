package adaptersource

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3 fetches adapters stored as s3://bucket/prefix/{adapter_config.json,
// adapter_model.safetensors}. For each object it verifies:
//   - size: the bytes read equal the object's Content-Length;
//   - x-amz-checksum-sha256, when the object was uploaded with a full-object
//     SHA-256 (composite multipart checksums are not digests of the file);
//   - other S3 checksums (CRC32, CRC32C, CRC64NVME, SHA1) through the SDK, which
//     validates them while reading because ChecksumMode is enabled;
//   - a sidecar object "<key>.sha256" (sha256sum format: the hex digest first),
//     when one exists, for stores that do not keep checksums.
type S3 struct {
	Client *s3.Client
}

// NewS3FromEnv builds the client from the standard AWS configuration chain
// (environment, shared config, instance role). A non-empty endpoint selects an
// S3-compatible store and path-style addressing.
func NewS3FromEnv(ctx context.Context, endpoint string) (*S3, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return &S3{Client: s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
		}
	})}, nil
}

// maxSidecarSize bounds a .sha256 sidecar object: it holds one line.
const maxSidecarSize = 4096

// Fetch implements Source for KindS3 refs.
func (s *S3) Fetch(ctx context.Context, ref Ref, dst string) (Manifest, error) {
	if ref.Kind != KindS3 {
		return Manifest{}, fmt.Errorf("%w: s3 source given %s ref %q", ErrBadRef, ref.Kind, ref)
	}
	m := Manifest{ID: ref.String(), Origin: ref.String()}
	for _, name := range AdapterFiles {
		key := name
		if ref.Name != "" {
			key = ref.Name + "/" + name
		}
		f, err := s.fetchObject(ctx, ref.Bucket, key, dst, name)
		if err != nil {
			return Manifest{}, fmt.Errorf("s3://%s/%s: %w", ref.Bucket, key, s3Error(err))
		}
		m.Files = append(m.Files, f)
	}
	m.Fetched = time.Now().UTC()
	return m, nil
}

func (s *S3) fetchObject(ctx context.Context, bucket, key, dst, name string) (File, error) {
	sidecar, err := s.sidecarDigest(ctx, bucket, key)
	if err != nil {
		return File{}, err
	}
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{
		Bucket:       aws.String(bucket),
		Key:          aws.String(key),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return File{}, err
	}
	defer out.Body.Close()
	want := expect{size: -1, sha256: sidecar}
	if out.ContentLength != nil {
		want.size = *out.ContentLength
	}
	if d, ok := fullObjectSHA256(out); ok {
		if want.sha256 != "" && want.sha256 != d {
			return File{}, fmt.Errorf("%w: %s.sha256 says %s but the object's checksum is %s", ErrCorrupt, key, want.sha256, d)
		}
		want.sha256 = d
	}
	return save(out.Body, dst, name, want)
}

// fullObjectSHA256 returns the object's SHA-256 in hex when S3 holds one for the
// whole object.
func fullObjectSHA256(out *s3.GetObjectOutput) (string, bool) {
	if out.ChecksumSHA256 == nil || out.ChecksumType == types.ChecksumTypeComposite {
		return "", false
	}
	raw, err := base64.StdEncoding.DecodeString(*out.ChecksumSHA256)
	if err != nil || len(raw) != 32 {
		return "", false
	}
	return hex.EncodeToString(raw), true
}

// sidecarDigest reads "<key>.sha256" if it exists; "" when it does not.
func (s *S3) sidecarDigest(ctx context.Context, bucket, key string) (string, error) {
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key + ".sha256")})
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			return "", nil
		}
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, maxSidecarSize+1))
	if err != nil {
		return "", fmt.Errorf("read %s.sha256: %w", key, err)
	}
	fields := strings.Fields(string(b))
	if len(b) > maxSidecarSize || len(fields) == 0 || !isHex(fields[0], 64) {
		return "", fmt.Errorf("%w: %s.sha256 does not start with a hex SHA-256 digest", ErrCorrupt, key)
	}
	return strings.ToLower(fields[0]), nil
}

// s3Error wraps the S3 errors callers act on with this package's sentinels.
func s3Error(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NoSuchBucket", "NotFound":
			return fmt.Errorf("%w: %v", ErrNotFound, err)
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken":
			return fmt.Errorf("%w: %v", ErrAuth, err)
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case 404:
			return fmt.Errorf("%w: %v", ErrNotFound, err)
		case 401, 403:
			return fmt.Errorf("%w: %v", ErrAuth, err)
		}
	}
	return err
}
