package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opennimble/opennimble/backup"
	"github.com/opennimble/opennimble/backup/backuptest"
)

// The backups command on a folder store: restore writes a backup's files
// into a new folder; verify --quick says it did not read the data; an
// encrypted store needs its key.
func TestBackupsCommands(t *testing.T) {
	data := t.TempDir()
	src := t.TempDir()
	if err := backuptest.FillTree(src, 4); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, []byte(strings.Repeat("s", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	key, _ := backup.ParseOperatorKey(strings.Repeat("s", 40))
	store, err := backup.OpenFS(filepath.Join(data, "backups"))
	if err != nil {
		t.Fatal(err)
	}
	repo, err := backup.Open(context.Background(), store, backup.Options{Create: true, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Snapshot(context.Background(), src, backup.SnapshotOptions{ID: "bak-1"}); err != nil {
		t.Fatal(err)
	}

	out, err := run(t, "backups", "verify", "--quick", "--data-dir", data, "--backup-key-file", keyFile)
	if err != nil || strings.Contains(out, "every backup can be restored") || !strings.Contains(out, "was not read") {
		t.Fatalf("verify --quick: %v\n%s", err, out)
	}
	out, err = run(t, "backups", "verify", "--data-dir", data, "--backup-key-file", keyFile)
	if err != nil || !strings.Contains(out, "OK: every backup can be restored") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	dst := filepath.Join(t.TempDir(), "out")
	if out, err := run(t, "backups", "restore", "bak-1", dst, "--data-dir", data, "--backup-key-file", keyFile); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if diff, err := backuptest.DiffDirs(src, dst); err != nil || diff != nil {
		t.Fatalf("restored tree differs: %v %v", err, diff)
	}
	if _, err := run(t, "backups", "restore", "bak-1", dst, "--data-dir", data, "--backup-key-file", keyFile); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("restore into an existing folder: %v", err)
	}
	if _, err := run(t, "backups", "restore", "bak-nope", filepath.Join(t.TempDir(), "x"), "--data-dir", data, "--backup-key-file", keyFile); err == nil || !strings.Contains(err.Error(), "no backup") {
		t.Fatalf("restore of a missing backup: %v", err)
	}
	if _, err := run(t, "backups", "list", "--data-dir", data); err == nil || !strings.Contains(err.Error(), "no key was given") {
		t.Fatalf("list without the key: %v", err)
	}
}
