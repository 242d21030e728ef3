package e2e

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go/aws"

	"github.com/opennimble/opennimble/app"
	"github.com/opennimble/opennimble/backup/backuptest"
	"github.com/opennimble/opennimble/backup/s3store/s3test"
)

// TestLocalDriverS3Backups: the local driver keeps its backups, encrypted,
// in a bucket of a real S3 server on loopback (credentials from the AWS
// environment chain). A session's files come back byte for byte after its
// volume and the host's backup cache are wiped; the bucket holds no
// plaintext of a marker written in the session; the backups command
// lists, verifies and restores from the bucket, and a wrong key fails
// clearly.
func TestLocalDriverS3Backups(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s3test.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3test.SecretKey)
	t.Setenv("AWS_REGION", "us-east-1")
	keyFile := filepath.Join(t.TempDir(), "backup.key")
	check(t, os.WriteFile(keyFile, []byte(strings.Repeat("k", 16)+"an-operator-key-for-the-test\n"), 0o600))
	store := "s3://" + bucket + "/studio"
	e := start(t, localDriver, func(c *app.Config, o *app.Options) {
		c.Backup = app.BackupConfig{Store: store, S3Endpoint: srv.Endpoint, S3PathStyle: true, KeyFile: keyFile}
	})
	pr := makeProfile(t, ctx(t), e.Admin, "offsite", withBackups(3), withPersistence(600))
	s := e.session(t, pr)
	vol := filepath.Join(e.dir, "volumes", *s.id)
	check(t, backuptest.FillTree(filepath.Join(vol, "work"), 3))
	marker := backuptest.Marker()
	check(t, os.WriteFile(filepath.Join(vol, "notes.txt"), []byte("the secret is "+marker+"\n"), 0o644))
	want := snapshotOf(t, vol)
	id := s.stopWithBackup()

	// The objects are in the bucket (the POSIX backend's folder), sealed.
	objects := 0
	check(t, filepath.WalkDir(filepath.Join(srv.Dir, bucket), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		objects++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(marker)) {
			t.Errorf("%s holds the marker in the clear", p)
		}
		return nil
	}))
	if objects < 3 {
		t.Fatalf("%d objects in the bucket after a backup", objects)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "backups")); !os.IsNotExist(err) {
		t.Fatalf("the data folder has a backups folder with an S3 store: %v", err)
	}

	// Lose the host's copy: the volume and the backup cache.
	check(t, backuptest.ClearDir(vol))
	check(t, os.RemoveAll(filepath.Join(e.dir, "backup-cache")))
	check(t, s.start(id))
	s.waitReady()
	sameTree(t, want, vol)
	if got := s.get(); aws.StringValue(got.StartedFromBackupId) != id {
		t.Fatalf("startedFromBackupId %q, want %s", aws.StringValue(got.StartedFromBackupId), id)
	}

	// The backups command, on the bucket, with the key in the environment.
	key, err := os.ReadFile(keyFile)
	check(t, err)
	backups := func(key string, args ...string) (string, error) {
		args = append(args, "--data-dir", e.dir, "--backup-store", store, "--backup-s3-endpoint", srv.Endpoint, "--backup-s3-path-style")
		cmd := exec.Command(binary(t), append([]string{"backups"}, args...)...)
		cmd.Env = append(os.Environ(), app.BackupKeyEnv+"="+key)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := backups(string(key), "list"); err != nil || !strings.Contains(out, id) {
		t.Fatalf("backups list: %v\n%s", err, out)
	}
	if out, err := backups(string(key), "verify"); err != nil || !strings.Contains(out, "OK: every backup can be restored") {
		t.Fatalf("backups verify: %v\n%s", err, out)
	}
	if out, err := backups(string(key), "verify", "--quick"); err != nil || strings.Contains(out, "every backup can be restored") || !strings.Contains(out, "not read") {
		t.Fatalf("backups verify --quick: %v\n%s", err, out)
	}
	dst := filepath.Join(t.TempDir(), "restored")
	if out, err := backups(string(key), "restore", id, dst); err != nil {
		t.Fatalf("backups restore: %v\n%s", err, out)
	}
	sameTree(t, want, dst)
	if out, err := backups(string(key), "gc"); err != nil || !strings.Contains(out, "freed") {
		t.Fatalf("backups gc: %v\n%s", err, out)
	}
	out, err := backups(strings.Repeat("w", 40), "list")
	if err == nil || !strings.Contains(out, "does not open this repository") {
		t.Fatalf("backups list with a wrong key: %v\n%s", err, out)
	}
	out, err = backups("", "list")
	if err == nil || !strings.Contains(out, "at least 32") {
		t.Fatalf("backups list with an empty key: %v\n%s", err, out)
	}
}
