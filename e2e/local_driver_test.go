package e2e

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/nimblestudio"

	"github.com/opennimble/opennimble/app"
	"github.com/opennimble/opennimble/backup/backuptest"
	"github.com/opennimble/opennimble/internal/testwait"
)

// The local driver keeps session volumes in <data-dir>/volumes/<sessionId>
// and backups in <data-dir>/backups; these tests look at both directly, as
// a user at the workstation and an operator on the server would.

// localDriver runs the local driver without desktops: these tests compare
// volumes byte for byte, which a running desktop would write to.
func localDriver(c *app.Config, o *app.Options) { c.Driver = "local"; c.LocalDesktop = "off" }

// tagImageSource names dir, under <data-dir>/images, as the image's source.
func tagImageSource(t *testing.T, c *nimblestudio.NimbleStudio, pr profile, source string) {
	t.Helper()
	img := must[*nimblestudio.GetStreamingImageOutput](t)(c.GetStreamingImageWithContext(ctx(t), &nimblestudio.GetStreamingImageInput{StudioId: &pr.Studio, StreamingImageId: &pr.Image}))
	must[*nimblestudio.TagResourceOutput](t)(c.TagResourceWithContext(ctx(t), &nimblestudio.TagResourceInput{
		ResourceArn: img.StreamingImage.Arn, Tags: map[string]*string{"opennimble:source": aws.String(source)}}))
}

func sameTree(t *testing.T, want, got string) {
	t.Helper()
	diff, err := backuptest.DiffDirs(want, got)
	if err != nil {
		t.Fatal(err)
	}
	if diff != nil {
		t.Fatalf("%s differs from %s:\n%s", got, want, strings.Join(diff[:min(len(diff), 30)], "\n"))
	}
}

// snapshotOf copies a volume with cp -a, to compare a restore with.
func snapshotOf(t *testing.T, dir string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "want")
	if out, err := exec.Command("cp", "-a", dir, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	return dst
}

// chunkStats counts the packs of chunks in a data folder's backup store
// and their bytes (placed packs only: those written but not yet synced
// wait under temporary names, .put-…).
func chunkStats(dataDir string) (n int, bytes int64) {
	_ = filepath.WalkDir(filepath.Join(dataDir, "backups", "chunks"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".put-") {
			if fi, err := e.Info(); err == nil {
				n++
				bytes += fi.Size()
			}
		}
		return nil
	})
	return n, bytes
}

// countFiles counts the files under dir whose names start with prefix.
func countFiles(dir, prefix string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasPrefix(e.Name(), prefix) {
			n++
		}
		return nil
	})
	return n
}

// awaitCond polls cond every 10ms, within the test's deadline.
func awaitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Eventually(t, what, cond)
}

// TestLocalDriverBackupAndRestore: a session's volume is made from its
// image's source directory; what is written there is backed up on stop and
// comes back byte for byte (contents, modes, symlinks, empty directories,
// times) when the session starts from the backup, even after the volume
// was wiped. A session without persistence gets a fresh volume from the
// image at each start.
func TestLocalDriverBackupAndRestore(t *testing.T) {
	e := start(t, localDriver)
	image := filepath.Join(e.dir, "images", "base")
	check(t, os.MkdirAll(image, 0o755))
	check(t, backuptest.FillTree(image, 1))
	pr := makeProfile(t, ctx(t), e.Admin, "local", withBackups(3), withPersistence(600))
	tagImageSource(t, e.Admin, pr, "base")
	s := e.session(t, pr)
	vol := filepath.Join(e.dir, "volumes", *s.id)
	sameTree(t, image, vol)

	// Work at the workstation: a new tree, edits, a removal.
	check(t, os.Mkdir(filepath.Join(vol, "work"), 0o755))
	check(t, backuptest.FillTree(filepath.Join(vol, "work"), 2))
	check(t, os.WriteFile(filepath.Join(vol, "README.md"), []byte("edited at the workstation\n"), 0o600))
	check(t, os.Remove(filepath.Join(vol, "empty")))
	check(t, backuptest.SetTimes(vol, time.Date(2022, 5, 6, 7, 8, 9, 0, time.UTC)))
	want := snapshotOf(t, vol)
	first := s.stopWithBackup()
	sameTree(t, want, vol) // RETAIN: the stopped session keeps its volume

	// Wipe and change the volume, then start from the backup.
	check(t, backuptest.ClearDir(vol))
	check(t, os.WriteFile(filepath.Join(vol, "not-in-the-backup"), []byte("x"), 0o644))
	check(t, s.start(first))
	s.waitReady()
	sameTree(t, want, vol)
	if got := s.get(); aws.StringValue(got.StartedFromBackupId) != first {
		t.Fatalf("startedFromBackupId %q, want %s", aws.StringValue(got.StartedFromBackupId), first)
	}

	// An unchanged volume's next backup stores next to nothing.
	_, before := chunkStats(e.dir)
	second := s.stopWithBackup()
	if _, after := chunkStats(e.dir); after != before {
		t.Fatalf("an unchanged volume's backup stored %d bytes of chunks", after-before)
	}
	check(t, s.start(""))
	s.waitReady()
	sameTree(t, want, vol) // persistence: the same volume again
	check(t, os.WriteFile(filepath.Join(vol, "later.txt"), []byte("later"), 0o644))
	s.stopWithBackup()
	check(t, s.start(second))
	s.waitReady()
	sameTree(t, want, vol)

	// Stopped with volumeRetentionMode DELETE, the volume goes, and a start
	// makes a fresh one from the image (named this time by absolute path).
	pr2 := makeProfile(t, ctx(t), e.Admin, "fresh", withPersistence(600))
	tagImageSource(t, e.Admin, pr2, image)
	s2 := e.session(t, pr2)
	vol2 := filepath.Join(e.dir, "volumes", *s2.id)
	sameTree(t, image, vol2)
	check(t, os.WriteFile(filepath.Join(vol2, "scratch"), []byte("gone at stop"), 0o644))
	_, err := e.Admin.StopStreamingSessionWithContext(ctx(t), &nimblestudio.StopStreamingSessionInput{StudioId: &s2.studio, SessionId: s2.id, VolumeRetentionMode: aws.String("DELETE")})
	check(t, err)
	check(t, e.Admin.WaitUntilStreamingSessionStoppedWithContext(ctx(t), s2.in(), fast()))
	if _, err := os.Stat(vol2); !os.IsNotExist(err) {
		t.Fatalf("the volume of a session stopped with DELETE is still there: %v", err)
	}
	check(t, s2.start(""))
	s2.waitReady()
	sameTree(t, image, vol2)
}

// TestLocalDriverRetentionFreesSpace: when retention deletes a backup, the
// chunks no other backup uses are freed.
func TestLocalDriverRetentionFreesSpace(t *testing.T) {
	e := start(t, localDriver)
	pr := makeProfile(t, ctx(t), e.Admin, "retain", withBackups(1), withPersistence(600))
	s := e.session(t, pr)
	vol := filepath.Join(e.dir, "volumes", *s.id)
	random := func(seed uint64) []byte {
		b := make([]byte, 6<<20)
		_, _ = rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
		return b
	}
	check(t, os.WriteFile(filepath.Join(vol, "scene-v1.bin"), random(1), 0o644))
	s.stopWithBackup()
	_, one := chunkStats(e.dir)
	check(t, s.start(""))
	s.waitReady()
	check(t, os.Remove(filepath.Join(vol, "scene-v1.bin")))
	check(t, os.WriteFile(filepath.Join(vol, "scene-v2.bin"), random(2), 0o644))
	want := snapshotOf(t, vol)
	kept := s.stopWithBackup()
	awaitCond(t, "retention to delete the first backup", func() bool {
		list := s.backups()
		return len(list) == 1 && *list[0].BackupId == kept
	})
	awaitCond(t, "the first backup's chunks to be freed", func() bool {
		_, now := chunkStats(e.dir)
		return now <= one+one/10 // the second backup's, and no more
	})
	check(t, backuptest.ClearDir(vol))
	check(t, s.start(kept))
	s.waitReady()
	sameTree(t, want, vol)
}

// TestLocalDriverCorruptChunk: a damaged chunk is found when the backup is
// restored: the session goes to START_FAILED with a message naming its
// pack, its volume untouched, and `opennimble backups verify` reports it.
func TestLocalDriverCorruptChunk(t *testing.T) {
	e := start(t, localDriver)
	pr := makeProfile(t, ctx(t), e.Admin, "corrupt", withBackups(3), withPersistence(600))
	s := e.session(t, pr)
	vol := filepath.Join(e.dir, "volumes", *s.id)
	check(t, backuptest.FillTree(vol, 3))
	id := s.stopWithBackup()
	// Flip one byte in the middle of the largest pack (among its chunks:
	// the header is at the end).
	var victim string
	var size int64
	_ = filepath.WalkDir(filepath.Join(e.dir, "backups", "chunks"), func(p string, d fs.DirEntry, err error) error {
		if fi, ierr := d.Info(); err == nil && ierr == nil && fi.Mode().IsRegular() && fi.Size() > size {
			victim, size = p, fi.Size()
		}
		return nil
	})
	b, err := os.ReadFile(victim)
	check(t, err)
	b[len(b)/2] ^= 0xff
	check(t, os.WriteFile(victim, b, 0o600))

	check(t, s.start(id))
	var got *nimblestudio.StreamingSession
	awaitCond(t, "the start to fail", func() bool {
		got = s.get()
		return aws.StringValue(got.State) != "START_IN_PROGRESS"
	})
	if aws.StringValue(got.State) != "START_FAILED" || !strings.Contains(aws.StringValue(got.StatusMessage), "corrupt") ||
		!strings.Contains(aws.StringValue(got.StatusMessage), filepath.Base(victim)) {
		t.Fatalf("start from a damaged backup: %s", got)
	}
	if _, err := os.Stat(filepath.Join(vol, "README.md")); err != nil {
		t.Fatalf("the failed restore touched the volume: %v", err)
	}
	out, err := exec.Command(binary(t), "backups", "verify", "--data-dir", e.dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "corrupt") || !strings.Contains(string(out), id) {
		t.Fatalf("backups verify: %v\n%s", err, out)
	}
}

// verifyStore runs `opennimble backups verify` and fails unless it is clean.
func verifyStore(t *testing.T, dataDir string) {
	t.Helper()
	out, err := exec.Command(binary(t), "backups", "verify", "--data-dir", dataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK: every backup can be restored") {
		t.Fatalf("backups verify: %v\n%s", err, out)
	}
}

// writeFiles fills dir with n files of 64 KiB of random bytes: a chunk
// each (256 to a pack of 16 MiB), so that with --local-io-delay a
// snapshot, restore or garbage collection takes long enough to be killed
// half-way.
func writeFiles(t *testing.T, dir string, n int, seed byte) {
	t.Helper()
	check(t, os.MkdirAll(dir, 0o755))
	b := make([]byte, 64<<10)
	rng := rand.NewChaCha8([32]byte{seed})
	for i := range n {
		_, _ = rng.Read(b)
		check(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", i)), b, 0o640))
	}
}

// TestLocalDriverKill9 kills the real server with SIGKILL in the middle of
// a snapshot, a restore and a garbage collection. After each restart the
// store verifies clean (no READY backup refers to a missing or corrupt
// chunk), what was in flight finishes, and the data is exact.
func TestLocalDriverKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the server")
	}
	outer := t
	dir := t.TempDir()
	addr := freePort(t)
	args := []string{"--driver", "local", "--local-desktop", "off", "--local-io-delay", "15ms"}
	p := startProc(t, dir, addr, args...)
	restart := func() {
		p.kill()
		p = startProc(outer, dir, addr, args...)
	}
	cx := ctx(t)
	s, vol, want := crashSession(t, p, dir, "kill")

	// 1. Killed while the snapshot writes packs (a full one waits under a
	// temporary name for its sync, the next is being filled): after the
	// restart the stop finishes with a complete backup.
	check(t, s.stop())
	awaitCond(t, "the snapshot to be under way", func() bool { return countFiles(filepath.Join(dir, "backups", "chunks"), ".put-") >= 1 })
	restart()
	s.c = p.client()
	check(t, s.c.WaitUntilStreamingSessionStoppedWithContext(cx, s.in(), fast()))
	list := s.backups()
	if len(list) != 1 || aws.StringValue(list[0].State) != "READY" {
		t.Fatalf("backups after the crashed snapshot: %s", list)
	}
	first := *list[0].BackupId
	verifyStore(t, dir)

	// 2. Killed while the restore writes the new volume: after the restart
	// the start finishes, from a fresh scratch copy, and the volume is
	// exact.
	check(t, backuptest.ClearDir(vol))
	check(t, s.start(first))
	awaitCond(t, "the restore to be under way", func() bool { return countFiles(filepath.Join(dir, "volumes", ".staging"), "") >= 60 })
	restart()
	s.c = p.client()
	s.waitReady()
	sameTree(t, want, vol)
	if n := countFiles(filepath.Join(dir, "volumes", ".staging"), ""); n != 0 {
		t.Fatalf("%d files left in the scratch folder", n)
	}

	// 3. Killed while garbage collection deletes the packs of the first
	// backup's chunks (retention keeps one backup): the restarted server
	// finishes the collection and the kept backup is intact.
	check(t, os.RemoveAll(filepath.Join(vol, "v1")))
	writeFiles(t, filepath.Join(vol, "v2"), 600, 2)
	want2 := snapshotOf(t, vol)
	var peak int64
	check(t, s.stop())
	awaitCond(t, "garbage collection to be under way", func() bool {
		_, b := chunkStats(dir)
		peak = max(peak, b)
		return peak > 80<<20 && b < peak-8<<20 // one pack of v1 freed, more to go
	})
	restart()
	s.c = p.client()
	check(t, s.c.WaitUntilStreamingSessionStoppedWithContext(cx, s.in(), fast()))
	awaitCond(t, "garbage collection to finish", func() bool { _, b := chunkStats(dir); return b < peak-30<<20 })
	verifyStore(t, dir)
	awaitCond(t, "retention to leave one backup", func() bool {
		list = s.backups()
		return len(list) == 1 && *list[0].BackupId != first && aws.StringValue(list[0].State) == "READY"
	})
	check(t, backuptest.ClearDir(vol))
	check(t, s.start(*list[0].BackupId))
	s.waitReady()
	sameTree(t, want2, vol)
}
