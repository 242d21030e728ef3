package e2e

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/nimblestudio"

	"github.com/opennimble/opennimble/app"
	"github.com/opennimble/opennimble/backup/backuptest"
	"github.com/opennimble/opennimble/backup/s3store/s3test"
)

// TestLocalDriverS3Crashes: a real server keeping its backups, encrypted,
// in a bucket of a real S3 server on loopback, (1) killed with SIGKILL
// while a snapshot uploads its packs, (2) with the S3 server itself killed
// in the middle of a snapshot, for longer than a request is retried, and
// started again, and (3) killed while its
// garbage collection deletes packs, then `opennimble backups gc` killed
// half-way too. After each, the stop finishes with a READY backup, the
// bucket verifies clean (no backup counts on a missing or half-written
// object), and the session starts from its backup byte for byte.
func TestLocalDriverS3Crashes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the server")
	}
	outer := t
	srv := s3test.Start(t)
	bucket := srv.Bucket(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s3test.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3test.SecretKey)
	t.Setenv("AWS_REGION", "us-east-1")
	key := strings.Repeat("c", 16) + "a-key-for-the-crash-test"
	t.Setenv(app.BackupKeyEnv, key)
	store := "s3://" + bucket + "/studio"
	packs := filepath.Join(srv.Dir, bucket, "studio", "chunks")
	manifests := func() int { n, _ := bucketObjects(filepath.Join(srv.Dir, bucket, "studio", "manifests")); return n }
	s3flags := []string{"--backup-store", store, "--backup-s3-endpoint", srv.Endpoint, "--backup-s3-path-style"}

	dir := t.TempDir()
	addr := freePort(t)
	args := append([]string{"--driver", "local", "--local-desktop", "off", "--local-io-delay", "15ms"}, s3flags...)
	p := startProc(t, dir, addr, args...)
	restart := func() {
		p.kill()
		p = startProc(outer, dir, addr, args...)
	}
	backups := func(args ...string) *exec.Cmd {
		return exec.Command(binary(t), append(append([]string{"backups", "--data-dir", dir}, args...), s3flags...)...)
	}
	verify := func() {
		t.Helper()
		out, err := backups("verify").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "OK: every backup can be restored") {
			t.Fatalf("backups verify: %v\n%s", err, out)
		}
	}
	cx := ctx(t)
	s, vol, want := crashSession(t, p, dir, "s3crash")
	stopped := func() (id string) {
		t.Helper()
		s.c = p.client()
		check(t, s.c.WaitUntilStreamingSessionStoppedWithContext(cx, s.in(), fast()))
		// Retention deletes the older backup once the new one is READY.
		var list []*nimblestudio.StreamingSessionBackup
		awaitCond(t, "one READY backup", func() bool {
			list = s.backups()
			for _, b := range list {
				if st := aws.StringValue(b.State); st != "READY" && st != "DELETE_IN_PROGRESS" {
					t.Fatalf("backup %s after the stop (session %s)", b, s.get())
				}
			}
			return len(list) == 1 && aws.StringValue(list[0].State) == "READY"
		})
		return *list[0].BackupId
	}
	restoreMatches := func(id, want string) {
		t.Helper()
		check(t, backuptest.ClearDir(vol))
		check(t, s.start(id))
		s.waitReady()
		sameTree(t, want, vol)
	}

	// 1. The server killed once the first pack is in the bucket, while
	// the next ones are filled and uploaded.
	check(t, s.stop())
	awaitCond(t, "a pack to be uploaded", func() bool { n, _ := bucketObjects(packs); return n >= 1 })
	p.kill()
	if n := manifests(); n != 0 {
		t.Fatalf("%d manifests in the bucket when the server was killed: the snapshot had finished", n)
	}
	restart()
	first := stopped()
	verify()
	restoreMatches(first, want)

	// 2. The S3 server killed while the snapshot uploads, and down for
	// longer than the S3 client retries a request: the snapshot step
	// fails, the lifecycle retries it (the session stays on its way to
	// STOPPED), and once the S3 server is back the backup completes.
	retried := func() float64 {
		return metric(scrape(t, p.URL), "opennimble_lifecycle_jobs_total", map[string]string{"outcome": "retried"})
	}
	retries := retried()
	before, _ := bucketObjects(packs)
	writeFiles(t, filepath.Join(vol, "v3"), 600, 3)
	want = snapshotOf(t, vol)
	check(t, s.stop())
	awaitCond(t, "a pack of the second snapshot to be uploaded", func() bool { n, _ := bucketObjects(packs); return n > before })
	srv.Kill()
	if n := manifests(); n != 1 {
		t.Fatalf("%d manifests in the bucket when the S3 server was killed, want the first backup's only", n)
	}
	awaitCond(t, "the snapshot step to fail and be rescheduled", func() bool { return retried() > retries })
	if st := aws.StringValue(s.get().State); st != "STOP_IN_PROGRESS" {
		t.Fatalf("session %s while the S3 server is down, want STOP_IN_PROGRESS", st)
	}
	srv.Restart(t)
	second := stopped()
	if second == first {
		t.Fatal("no new backup after the S3 server's restart")
	}
	verify()
	restoreMatches(second, want)

	// 3. Retention keeps one backup: the next stop deletes the second
	// backup, whose packs of v1 and v3 garbage collection deletes, a chunk
	// at a time. The server is killed after the first deletion, and then
	// `opennimble backups gc` after the next.
	check(t, os.RemoveAll(filepath.Join(vol, "v1")))
	check(t, os.RemoveAll(filepath.Join(vol, "v3")))
	writeFiles(t, filepath.Join(vol, "v2"), 300, 2)
	want = snapshotOf(t, vol)
	peak := 0
	check(t, s.stop())
	awaitCond(t, "garbage collection to be under way", func() bool {
		n, _ := bucketObjects(packs)
		peak = max(peak, n)
		return len(s.backups()) == 1 && n < peak
	})
	p.kill()
	left, _ := bucketObjects(packs)
	gc := backups("gc", "--io-delay", "15ms")
	gc.Stderr = os.Stderr
	check(t, gc.Start())
	gcDone := make(chan struct{})
	go func() { _ = gc.Wait(); close(gcDone) }()
	awaitCond(t, "backups gc to delete a pack", func() bool { n, _ := bucketObjects(packs); return n < left })
	check(t, gc.Process.Kill())
	<-gcDone
	killed, _ := bucketObjects(packs)
	p = startProc(outer, dir, addr, args...)
	third := stopped()
	verify()
	if out, err := backups("gc").CombinedOutput(); err != nil || !strings.Contains(string(out), "freed") {
		t.Fatalf("backups gc after the kills: %v\n%s", err, out)
	}
	verify()
	if n, _ := bucketObjects(packs); n >= killed {
		t.Fatalf("%d packs after the collection, %d when it was killed: the kill did not come in its middle", n, killed)
	}
	restoreMatches(third, want)
}

// bucketObjects counts the objects under dir, a folder of the S3 server's
// POSIX backend, and their bytes (leaving out its hidden folders of
// uploads in progress).
func bucketObjects(dir string) (n int, bytes int64) {
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case e.IsDir() && strings.HasPrefix(e.Name(), "."):
			return fs.SkipDir
		case e.Type().IsRegular() && !strings.HasPrefix(e.Name(), "."):
			if fi, err := e.Info(); err == nil {
				n++
				bytes += fi.Size()
			}
		}
		return nil
	})
	return n, bytes
}

// crashSession makes a READY session on the server p (data folder dir),
// whose launch profile keeps one backup, and fills its volume with 600
// files of a chunk each and a FillTree: enough for --local-io-delay to
// make a snapshot, restore or collection long enough to be killed
// half-way. It returns the session, its volume and snapshotOf the volume.
func crashSession(t *testing.T, p *proc, dir, name string) (s *sess, vol, want string) {
	t.Helper()
	cx := ctx(t)
	pr := makeProfile(t, cx, p.client(), name, withBackups(1), withPersistence(600))
	out := must[*nimblestudio.CreateStreamingSessionOutput](t)(p.client().CreateStreamingSessionWithContext(cx, &nimblestudio.CreateStreamingSessionInput{
		StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile}))
	s = &sess{studio: pr.Studio, id: out.Session.SessionId, c: p.client(), t: t}
	s.waitReady()
	vol = filepath.Join(dir, "volumes", *s.id)
	writeFiles(t, filepath.Join(vol, "v1"), 600, 1)
	check(t, backuptest.FillTree(vol, 4))
	return s, vol, snapshotOf(t, vol)
}
