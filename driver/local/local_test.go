package local_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"github.com/opennimble/opennimble/internal/testwait"
	"io"
	"io/fs"
	"log/slog"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/backup"
	"github.com/opennimble/opennimble/backup/backuptest"
	"github.com/opennimble/opennimble/driver/local"
	"github.com/opennimble/opennimble/drivertest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newDriver(t *testing.T, dir string, o local.Options) *local.Driver {
	t.Helper()
	o.DataDir, o.Logger = dir, quiet
	d, err := local.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// readVolume stands for looking at a workstation's disk: the contents of
// its one file "data", "" when it is empty, or a listing of the tree.
func readVolume(d *local.Driver, id string) (string, bool) {
	dir := d.VolumePath(id)
	if _, err := os.Stat(dir); err != nil {
		return "", false
	}
	tree, err := backuptest.Describe(dir)
	if err != nil {
		return "error: " + err.Error(), true
	}
	delete(tree, ".")
	if n, ok := tree["data"]; ok && len(tree) == 1 && n.Type == "file" {
		b, _ := os.ReadFile(filepath.Join(dir, "data"))
		return string(b), true
	}
	var lines []string
	for p, n := range tree {
		lines = append(lines, p+" "+n.String())
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n"), true
}

func harness(d *local.Driver) *drivertest.Harness {
	return &drivertest.Harness{
		Driver: d,
		Read:   func(id string) (string, bool) { return readVolume(d, id) },
		Write: func(id, data string) {
			dir := d.VolumePath(id)
			if err := backuptest.ClearDir(dir); err != nil {
				panic(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "data"), []byte(data), 0o644); err != nil {
				panic(err)
			}
		},
	}
}

func TestConformance(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) *drivertest.Harness { return harness(newDriver(t, t.TempDir(), local.Options{})) })
}

// The suite also holds when every operation outlasts a call: calls report
// progress and the operation finishes in the background.
func TestConformanceWithSlowOperations(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) *drivertest.Harness {
		return harness(newDriver(t, t.TempDir(), local.Options{Wait: time.Millisecond, IODelay: 5 * time.Millisecond}))
	})
}

var bg = context.Background()

// await calls fn until it is done, failing the test on any error.
func await(t *testing.T, what string, fn func() (opennimble.Progress, error)) {
	t.Helper()
	if err := try(t, fn); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func try(t *testing.T, fn func() (opennimble.Progress, error)) error {
	deadline := testwait.Deadline(t)
	for time.Now().Before(deadline) {
		p, err := fn()
		if err != nil || p.Done {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
	return errors.New("not done after 30s")
}

func vol(gen int64) opennimble.Volume { return opennimble.Volume{Generation: gen} }

func provision(t *testing.T, d *local.Driver, id, source string) {
	t.Helper()
	await(t, "provision", func() (opennimble.Progress, error) {
		return d.Provision(bg, opennimble.ProvisionParams{SessionID: id, Token: "p", ImageID: "si-1", ImageSource: source, Volume: vol(1)})
	})
}

func sameTree(t *testing.T, want, got string) {
	t.Helper()
	diff, err := backuptest.DiffDirs(want, got)
	if err != nil {
		t.Fatal(err)
	}
	if diff != nil {
		t.Fatalf("%s differs from %s:\n%s", got, want, strings.Join(diff, "\n"))
	}
}

// A volume is made from an image directory, a tar, or a gzipped tar, in the
// image roots only; the tree comes over exactly.
func TestImageSources(t *testing.T) {
	dir := t.TempDir()
	images := filepath.Join(dir, "images")
	img := filepath.Join(images, "linux")
	if err := os.MkdirAll(img, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := backuptest.FillTree(img, 11); err != nil {
		t.Fatal(err)
	}
	writeTar(t, img, filepath.Join(images, "linux.tar"), false)
	writeTar(t, img, filepath.Join(images, "linux.tar.gz"), true)
	d := newDriver(t, dir, local.Options{})
	for i, src := range []string{"linux", img, "linux.tar", "linux.tar.gz"} {
		id := fmt.Sprintf("ses-%d", i)
		provision(t, d, id, src)
		sameTree(t, img, d.VolumePath(id))
	}
	outside := t.TempDir()
	for i, src := range []string{outside, "../../etc", "missing-image"} {
		p := opennimble.ProvisionParams{SessionID: fmt.Sprintf("bad-%d", i), Token: "p", ImageID: "si-1", ImageSource: src, Volume: vol(1)}
		err := try(t, func() (opennimble.Progress, error) { return d.Provision(bg, p) })
		var de *opennimble.DriverError
		if !errors.As(err, &de) || !strings.Contains(de.Message, "image") {
			t.Fatalf("source %s: %v, want a driver error", src, err)
		}
	}
}

func writeTar(t *testing.T, src, dst string, gz bool) {
	t.Helper()
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var w io.Writer = f
	if gz {
		g := gzip.NewWriter(f)
		defer g.Close()
		w = g
	}
	tw := tar.NewWriter(w)
	defer tw.Close()
	err = filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode().Type() == fs.ModeSymlink {
			link, _ = os.Readlink(p)
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		h.Name = filepath.ToSlash(rel)
		h.Format = tar.FormatPAX // nanosecond times
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The whole cycle on a real tree: back up, wipe, restore exactly; the
// second backup of an unchanged volume reads nothing; deleting backups
// frees their chunks.
func TestBackupRestoreAndGarbage(t *testing.T) {
	dir := t.TempDir()
	d := newDriver(t, dir, local.Options{})
	provision(t, d, "s1", "")
	v := d.VolumePath("s1")
	if err := backuptest.FillTree(v, 21); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(t.TempDir(), "want")
	if out, err := exec("cp", "-a", v, want); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	snap := func(id string) {
		await(t, "snapshot "+id, func() (opennimble.Progress, error) {
			return d.Snapshot(bg, opennimble.SnapshotParams{SessionID: "s1", BackupID: id, VolumeGeneration: 1})
		})
	}
	snap("bak-1")
	snap("bak-2")
	m, err := d.Repo().Manifest(bg, "bak-2")
	if err != nil || m.Parent != "bak-1" {
		t.Fatalf("the second backup did not build on the first: %+v %v", m, err)
	}
	if err := backuptest.ClearDir(v); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v, "junk"), []byte("not in the backup"), 0o644); err != nil {
		t.Fatal(err)
	}
	await(t, "restore", func() (opennimble.Progress, error) {
		return d.Restore(bg, opennimble.RestoreParams{SessionID: "s1", BackupID: "bak-1", Token: "r", Volume: vol(2)})
	})
	sameTree(t, want, v)

	stored := func() int64 {
		var n int64
		_ = filepath.WalkDir(filepath.Join(dir, "backups", "chunks"), func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.Type().IsRegular() {
				fi, _ := e.Info()
				n += fi.Size()
			}
			return nil
		})
		return n
	}
	before := stored()
	for _, id := range []string{"bak-1", "bak-2"} {
		await(t, "delete "+id, func() (opennimble.Progress, error) {
			return d.DeleteBackup(bg, opennimble.DeleteBackupParams{BackupID: id})
		})
	}
	deadline := testwait.Deadline(t)
	for stored() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d bytes of chunks left after deleting every backup", stored(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A corrupt chunk fails the restore with a message and leaves the volume.
func TestCorruptBackupFailsRestore(t *testing.T) {
	dir := t.TempDir()
	d := newDriver(t, dir, local.Options{})
	provision(t, d, "s1", "")
	v := d.VolumePath("s1")
	if err := backuptest.FillTree(v, 22); err != nil {
		t.Fatal(err)
	}
	await(t, "snapshot", func() (opennimble.Progress, error) {
		return d.Snapshot(bg, opennimble.SnapshotParams{SessionID: "s1", BackupID: "bak-1", VolumeGeneration: 1})
	})
	corruptOneChunk(t, filepath.Join(dir, "backups"))
	if err := os.WriteFile(filepath.Join(v, "still-here"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := try(t, func() (opennimble.Progress, error) {
		return d.Restore(bg, opennimble.RestoreParams{SessionID: "s1", BackupID: "bak-1", Token: "r", Volume: vol(2)})
	})
	var de *opennimble.DriverError
	if !errors.As(err, &de) || !strings.Contains(de.Message, "corrupt") || !strings.Contains(de.Message, "bak-1") {
		t.Fatalf("restore of a corrupt backup = %v", err)
	}
	if _, err := os.Stat(filepath.Join(v, "still-here")); err != nil {
		t.Fatalf("a failed restore touched the volume: %v", err)
	}
}

// corruptOneChunk flips a byte in the middle of the largest chunk.
func corruptOneChunk(t *testing.T, store string) string {
	t.Helper()
	var victim string
	var size int64
	_ = filepath.WalkDir(filepath.Join(store, "chunks"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if fi, _ := e.Info(); fi.Size() > size {
				victim, size = p, fi.Size()
			}
		}
		return nil
	})
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(victim, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return victim
}

// A restarted driver cleans what a crash left half made, keeps the
// sessions' state, and a repeated operation finishes.
func TestRestartCleansUp(t *testing.T) {
	dir := t.TempDir()
	d, err := local.New(local.Options{DataDir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	provision(t, d, "s1", "")
	if err := os.WriteFile(filepath.Join(d.VolumePath("s1"), "work"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// What a crash half-way through a restore and a delete leaves.
	for _, p := range []string{"volumes/.staging/s1.g2/half", "volumes/.trash/s0.123/old"} {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d = newDriver(t, dir, local.Options{})
	for _, p := range []string{"volumes/.staging", "volumes/.trash"} {
		if entries, _ := os.ReadDir(filepath.Join(dir, p)); len(entries) != 0 {
			t.Fatalf("%s not cleaned: %v", p, entries)
		}
	}
	await(t, "start", func() (opennimble.Progress, error) {
		return d.Start(bg, opennimble.StartParams{SessionID: "s1", Token: "s", ImageID: "si-1", Volume: vol(1)})
	})
	if b, err := os.ReadFile(filepath.Join(d.VolumePath("s1"), "work")); err != nil || string(b) != "mine" {
		t.Fatalf("the volume did not survive the restart: %q %v", b, err)
	}
	// Provisioning again (as a restarted lifecycle would) keeps the volume.
	provision(t, d, "s1", "")
	if _, err := os.Stat(filepath.Join(d.VolumePath("s1"), "work")); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyAfterDriverUse(t *testing.T) {
	dir := t.TempDir()
	d := newDriver(t, dir, local.Options{})
	provision(t, d, "s1", "")
	if err := backuptest.FillTree(d.VolumePath("s1"), 23); err != nil {
		t.Fatal(err)
	}
	await(t, "snapshot", func() (opennimble.Progress, error) {
		return d.Snapshot(bg, opennimble.SnapshotParams{SessionID: "s1", BackupID: "bak-1", VolumeGeneration: 1})
	})
	rep, err := d.Repo().Verify(bg, backup.VerifyOptions{})
	if err != nil || !rep.OK() || rep.Backups != 1 {
		t.Fatalf("verify = %+v, %v", rep, err)
	}
}

func exec(name string, args ...string) ([]byte, error) {
	return osexec.Command(name, args...).CombinedOutput()
}
