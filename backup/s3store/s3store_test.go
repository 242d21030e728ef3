package s3store_test

import (
	"context"
	"path/filepath"
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

// The S3 server killed and started again in the middle of a snapshot: the
// requests that failed meanwhile are retried, the snapshot completes, and
// the backup restores to the same tree.
func TestS3ServerRestartMidSnapshot(t *testing.T) {
	srv := s3test.Start(t)
	s := open(t, srv, s3store.Options{})
	ctx := context.Background()
	repo, err := backup.Open(ctx, s, backup.Options{Create: true, PackSize: 256 << 10, Delay: 5 * time.Millisecond, Key: backuptest.NewOperatorKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := backuptest.FillTree(dir, 21); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := repo.Snapshot(ctx, dir, backup.SnapshotOptions{ID: "b1"})
		done <- err
	}()
	// Once a few packs are up, kill the server and start it again.
	deadline := time.Now().Add(2 * time.Minute)
	for packs(t, s) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("no packs uploaded")
		}
		select {
		case err := <-done:
			t.Fatalf("the snapshot ended before the server was killed: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	srv.Kill()
	srv.Restart(t)
	if err := <-done; err != nil {
		t.Fatalf("snapshot across a server restart: %v", err)
	}
	rep, err := repo.Verify(ctx, backup.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %v", err, rep.Problems)
	}
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := repo.Restore(ctx, "b1", dst); err != nil {
		t.Fatal(err)
	}
	if diff, err := backuptest.DiffDirs(dir, dst); err != nil || diff != nil {
		t.Fatalf("restored tree differs: %v %v", err, diff)
	}
}

func packs(t *testing.T, s backup.Backend) int {
	n := 0
	if err := s.List(context.Background(), "chunks/", func(string, int64) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
