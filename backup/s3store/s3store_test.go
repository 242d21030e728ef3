package s3store_test

import (
	"context"
	"testing"
	"time"

	"github.com/opennimble/opennimble/backup"
	"github.com/opennimble/opennimble/backup/backuptest"
	"github.com/opennimble/opennimble/backup/s3store"
	"github.com/opennimble/opennimble/backup/s3store/s3test"
)

// open returns a store in a fresh bucket of srv, under a prefix.
func open(t *testing.T, srv *s3test.Server, o s3store.Options) *s3store.Store {
	t.Helper()
	o.URL = "s3://" + srv.Bucket(t) + "/repo"
	o.Endpoint, o.PathStyle, o.Region, o.Credentials = srv.Endpoint, true, "us-east-1", s3test.Credentials()
	if o.Lease == 0 {
		o.Lease = 3 * time.Second
	}
	s, err := s3store.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The conformance suite of every backend, crashes at every write included,
// against a real S3 server; objects over 5 MiB go up in parts.
func TestS3Store(t *testing.T) {
	srv := s3test.Start(t)
	backuptest.Run(t, func(t *testing.T) backup.Backend {
		return open(t, srv, s3store.Options{PartSize: 5 << 20, CacheDir: t.TempDir()})
	})
}

func TestS3StoreEncryption(t *testing.T) {
	srv := s3test.Start(t)
	backuptest.RunEncryption(t, func(t *testing.T) backup.Backend {
		return open(t, srv, s3store.Options{})
	})
}
