// Package s3store keeps a backup repository in an S3-compatible bucket: a
// backup.Backend over the S3 API (aws-sdk-go-v2), so that the backups of a
// host survive the host.
//
// An object is a whole S3 object under the store's prefix: PutObject is
// atomic (a reader sees all of an object or none of it) and durable once
// acknowledged, so Sync has nothing to do; objects larger than PartSize
// go up as a multipart upload, which is invisible until it completes (an
// upload a crash interrupted is aborted by CleanTemp, which garbage
// collection calls). GetRange is a ranged GET. The repository lock is made
// of lock objects with a lease (lock.go). Index files, which never change
// once written, are kept in a local cache folder, so that a restarted
// server knows where every chunk lies without reading the bucket again.
package s3store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/opennimble/opennimble/backup"
)

// Options say which bucket to use and how to reach it.
type Options struct {
	// URL is s3://bucket or s3://bucket/prefix.
	URL string
	// Endpoint is the S3 server's URL; "" for AWS.
	Endpoint string
	// Region of the bucket; "" takes it from the AWS environment or
	// profile, else us-east-1.
	Region string
	// PathStyle addresses the bucket in the path (http://host/bucket/key),
	// as most S3-compatible servers want, rather than in the host name.
	PathStyle bool
	// Credentials; nil takes them from the usual AWS chain (environment,
	// shared credentials and config files, SSO, instance role).
	Credentials aws.CredentialsProvider
	// PartSize: an object larger than this goes up in parts of this size
	// (default 64 MiB; S3 wants at least 5 MiB).
	PartSize int64
	// Lease is how long a lock object stays valid without being renewed
	// (default 30s): how long a crashed holder blocks the others.
	Lease time.Duration
	// Attempts is how many times a request is tried before it fails
	// (default 10, about half a minute of backing off), so that a server
	// restarted in the middle of a snapshot does not fail it.
	Attempts int
	// CacheDir keeps a copy of the index files read or written; "" keeps
	// none.
	CacheDir string
	Logger   *slog.Logger
}

// Store is a backup.Backend in a bucket.
type Store struct {
	client         *s3.Client
	bucket, prefix string
	opts           Options
	owner          string // names this process's lock objects
}

var (
	_ backup.Backend     = (*Store)(nil)
	_ backup.TempCleaner = (*Store)(nil)
)

// IsURL reports whether s names an S3 store.
func IsURL(s string) bool { return strings.HasPrefix(s, "s3://") }

// ParseURL splits s3://bucket/prefix into the bucket and the key prefix
// ("" or ending in "/").
func ParseURL(s string) (bucket, prefix string, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("backup store %q: want s3://bucket or s3://bucket/prefix", s)
	}
	prefix = strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	return u.Host, prefix, nil
}

// Open connects to the bucket and checks that it can be read.
func Open(ctx context.Context, o Options) (*Store, error) {
	bucket, prefix, err := ParseURL(o.URL)
	if err != nil {
		return nil, err
	}
	if o.PartSize <= 0 {
		o.PartSize = 64 << 20
	}
	o.PartSize = max(o.PartSize, 5<<20)
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 10
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	loads := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = o.Attempts
				so.MaxBackoff = 5 * time.Second
			})
		}),
	}
	if o.Region != "" {
		loads = append(loads, config.WithRegion(o.Region))
	}
	if o.Credentials != nil {
		loads = append(loads, config.WithCredentialsProvider(o.Credentials))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("backup store %s: %w", o.URL, err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
		// The repository checks every chunk against its hash; the SDK's
		// own checksums only cost time (and not every server takes them).
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	s := &Store{client: client, bucket: bucket, prefix: prefix, opts: o, owner: newOwner()}
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return nil, fmt.Errorf("backup store %s: %w", o.URL, describe(err))
	}
	if o.CacheDir != "" {
		if err := os.MkdirAll(o.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("backup store cache: %w", err)
		}
	}
	return s, nil
}

func (s *Store) key(k string) *string { return aws.String(s.prefix + k) }

// checkKey refuses what backup.Backend does not allow, and the names of
// the lock objects.
func checkKey(k string) error {
	if !backup.ValidKey(k) || strings.HasPrefix(k, lockDir) {
		return fmt.Errorf("backup store: invalid key %q", k)
	}
	return nil
}

// Put uploads data whole, or in parts when it is larger than PartSize.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	var err error
	if int64(len(data)) > s.opts.PartSize {
		err = s.putMultipart(ctx, key, data)
	} else {
		_, err = s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: s.key(key), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))})
	}
	if err != nil {
		return fmt.Errorf("backup store: put %s: %w", key, describe(err))
	}
	if s.cached(key) {
		s.writeCache(key, data)
	}
	return nil
}

func (s *Store) putMultipart(ctx context.Context, key string, data []byte) error {
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: s.key(key)})
	if err != nil {
		return err
	}
	abort := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: s.key(key), UploadId: up.UploadId})
	}
	var parts []types.CompletedPart
	for n, off := int32(1), int64(0); off < int64(len(data)); n, off = n+1, off+s.opts.PartSize {
		part := data[off:min(int64(len(data)), off+s.opts.PartSize)]
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &s.bucket, Key: s.key(key), UploadId: up.UploadId,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part)))})
		if err != nil {
			abort()
			return err
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: s.key(key), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		abort()
	}
	return err
}

// Get downloads the object key, or takes an index file from the cache.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if s.cached(key) {
		if b, err := os.ReadFile(s.cachePath(key)); err == nil {
			return b, nil
		}
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: s.key(key)})
	if err != nil {
		return nil, s.readErr(key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("backup store: get %s: %w", key, err)
	}
	if out.ContentLength != nil && int64(len(b)) != *out.ContentLength {
		return nil, fmt.Errorf("backup store: get %s: %d of %d bytes: %w", key, len(b), *out.ContentLength, io.ErrUnexpectedEOF)
	}
	if s.cached(key) {
		s.writeCache(key, b)
	}
	return b, nil
}

// GetRange is a ranged GET.
func (s *Store) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if offset < 0 || length < 0 {
		return nil, fmt.Errorf("backup store: invalid range %d+%d of %s", offset, length, key)
	}
	if length == 0 {
		size, err := s.Stat(ctx, key)
		if err != nil {
			return nil, err
		}
		if offset > size {
			return nil, fmt.Errorf("backup store: %s has %d bytes, not 0 from %d: %w", key, size, offset, io.ErrUnexpectedEOF)
		}
		return []byte{}, nil
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: s.key(key),
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))})
	if status(err) == 416 {
		return nil, fmt.Errorf("backup store: %s ends before %d: %w", key, offset, io.ErrUnexpectedEOF)
	}
	if err != nil {
		return nil, s.readErr(key, err)
	}
	defer out.Body.Close()
	b := make([]byte, length)
	n, err := io.ReadFull(out.Body, b)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("backup store: %s has %d bytes from %d, not %d: %w", key, n, offset, length, io.ErrUnexpectedEOF)
	}
	if err != nil {
		return nil, fmt.Errorf("backup store: get %s: %w", key, err)
	}
	return b, nil
}

func (s *Store) readErr(key string, err error) error {
	if notFound(err) {
		return backup.ErrNotExist
	}
	return fmt.Errorf("backup store: get %s: %w", key, describe(err))
}

// Stat is a HEAD.
func (s *Store) Stat(ctx context.Context, key string) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: s.key(key)})
	if err != nil {
		return 0, s.readErr(key, err)
	}
	return aws.ToInt64(out.ContentLength), nil
}

// List pages through ListObjectsV2; the lock objects and anything not
// named as a key can be are left out.
func (s *Store) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("backup store: list %s: %w", prefix, describe(err))
		}
		for _, o := range page.Contents {
			k := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			if checkKey(k) != nil {
				continue
			}
			if err := fn(k, aws.ToInt64(o.Size)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes the object key (S3 answers a missing one with success).
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if s.cached(key) {
		_ = os.Remove(s.cachePath(key))
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: s.key(key)})
	if err != nil && !notFound(err) {
		return fmt.Errorf("backup store: delete %s: %w", key, describe(err))
	}
	return nil
}

// Sync has nothing to do: S3 acknowledges an object once it is durable.
func (s *Store) Sync(ctx context.Context) error { return ctx.Err() }

// CleanTemp aborts the multipart uploads under the prefix that a crashed
// process left (it runs under the exclusive lock, when no Put is in
// progress).
func (s *Store) CleanTemp(ctx context.Context) (int, error) {
	n := 0
	in := &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: aws.String(s.prefix)}
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return n, fmt.Errorf("backup store: list uploads: %w", describe(err))
		}
		for _, u := range out.Uploads {
			if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: u.Key, UploadId: u.UploadId}); err != nil && !notFound(err) {
				return n, fmt.Errorf("backup store: abort upload of %s: %w", aws.ToString(u.Key), describe(err))
			}
			n++
		}
		if !aws.ToBool(out.IsTruncated) {
			return n, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// cached reports whether key is kept in the local cache: index files,
// whose names are the hash of their contents.
func (s *Store) cached(key string) bool {
	return s.opts.CacheDir != "" && strings.HasPrefix(key, "index/")
}

func (s *Store) cachePath(key string) string {
	return filepath.Join(s.opts.CacheDir, filepath.FromSlash(key))
}

// writeCache keeps a copy of an index file; the cache is only a cache, so
// a failure is logged and forgotten. It is written whole under a
// temporary name and renamed, so that a crash leaves no partial copy.
func (s *Store) writeCache(key string, b []byte) {
	p := s.cachePath(key)
	err := os.MkdirAll(filepath.Dir(p), 0o700)
	if err == nil {
		tmp := p + ".tmp-" + s.owner
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, p)
		}
	}
	if err != nil {
		s.opts.Logger.Warn("backup store: cannot cache an index file", "key", key, "err", err)
	}
}

func notFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	return errors.As(err, &nsk) || errors.As(err, &nf) || status(err) == 404
}

func status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// describe shortens the SDK's errors to the server's code and message.
func describe(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: %s (HTTP %d)", ae.ErrorCode(), ae.ErrorMessage(), status(err))
	}
	return err
}
