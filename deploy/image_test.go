package deploy

import (
	"archive/tar"
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/opennimble/opennimble/internal/fixture"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// binary is the opennimble program, built once per test run.
func binary(t *testing.T) string {
	return fixture.Binary(t)
}

// TestImageRunsFromItsRoot builds the image with scripts/build-image
// (podman, FROM scratch), saves it as an OCI archive, unpacks its root file
// system and runs its entrypoint's `version` from there: the binary needs
// nothing outside the image. It also checks what the image promises: a
// static binary, a non-root user, /data a volume owned by that user.
func TestImageRunsFromItsRoot(t *testing.T) {
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatal("podman is needed (scripts/test installs it)")
	}
	version := fmt.Sprintf("test%d", time.Now().UnixNano())
	image := "localhost/opennimble-image-test"
	out, err := exec.Command("../scripts/build-image", version, image).CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/build-image: %v\n%s", err, out)
	}
	ref := strings.TrimSpace(string(out))
	if ref != image+":"+version {
		t.Fatalf("build-image printed %q", out)
	}
	t.Cleanup(func() { _ = exec.Command("podman", "rmi", "--force", ref).Run() })
	archive := filepath.Join(t.TempDir(), "image.tar")
	if out, err := exec.Command("podman", "save", "--format", "oci-archive", "-o", archive, ref).CombinedOutput(); err != nil {
		t.Fatalf("podman save: %v\n%s", err, out)
	}
	root := t.TempDir()
	cfg, owners := unpackOCI(t, archive, root)

	if cfg.Config.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (not root)", cfg.Config.User)
	}
	if _, ok := cfg.Config.Volumes["/data"]; !ok {
		t.Errorf("volumes %v: no /data", cfg.Config.Volumes)
	}
	if owners["data"] != 65532 {
		t.Errorf("/data is owned by %d, want 65532", owners["data"])
	}
	if len(cfg.Config.Entrypoint) == 0 {
		t.Fatal("no entrypoint")
	}
	entry := filepath.Join(root, cfg.Config.Entrypoint[0])
	f, err := elf.Open(entry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked: build it with CGO_ENABLED=0")
		}
	}
	f.Close()
	vout, err := exec.Command(entry, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", entry, err, vout)
	}
	for _, want := range []string{"opennimble " + version, "built:", "revision:"} {
		if !strings.Contains(string(vout), want) {
			t.Errorf("version printed %q, lacks %q", vout, want)
		}
	}
	passwd, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if !strings.Contains(string(passwd), ":65532:65532:") {
		t.Errorf("/etc/passwd does not name the user 65532: %q", passwd)
	}
}

type ociConfig struct {
	Config struct {
		User       string              `json:"User"`
		Entrypoint []string            `json:"Entrypoint"`
		Cmd        []string            `json:"Cmd"`
		Volumes    map[string]struct{} `json:"Volumes"`
	} `json:"config"`
}

// unpackOCI extracts the layers of the one image of an OCI archive into
// root and returns its configuration and the owner of every path.
func unpackOCI(t *testing.T, archive, root string) (ociConfig, map[string]int) {
	t.Helper()
	dir := t.TempDir()
	untar(t, mustOpen(t, archive), dir, nil)
	var index struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	readJSON(t, filepath.Join(dir, "index.json"), &index)
	if len(index.Manifests) != 1 {
		t.Fatalf("index.json names %d manifests", len(index.Manifests))
	}
	var manifest struct {
		Config struct{ Digest string } `json:"config"`
		Layers []struct {
			Digest    string `json:"digest"`
			MediaType string `json:"mediaType"`
		} `json:"layers"`
	}
	readJSON(t, blob(dir, index.Manifests[0].Digest), &manifest)
	var cfg ociConfig
	readJSON(t, blob(dir, manifest.Config.Digest), &cfg)
	owners := map[string]int{}
	for _, l := range manifest.Layers {
		var r io.Reader = mustOpen(t, blob(dir, l.Digest))
		if strings.HasSuffix(l.MediaType, "+gzip") {
			gz, err := gzip.NewReader(r)
			if err != nil {
				t.Fatal(err)
			}
			r = gz
		}
		untar(t, r, root, owners)
	}
	return cfg, owners
}

func blob(dir, digest string) string {
	algo, hex, _ := strings.Cut(digest, ":")
	return filepath.Join(dir, "blobs", algo, hex)
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// untar extracts directories, files and symlinks of r under dir, recording
// each path's owner in owners when it is not nil.
func untar(t *testing.T, r io.Reader, dir string, owners map[string]int) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." || strings.HasPrefix(name, "..") || strings.Contains(filepath.Base(name), ".wh.") {
			continue
		}
		if owners != nil {
			owners[name] = h.Uid
		}
		path := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(path, 0o755)
		case tar.TypeReg:
			if err = os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
				var f *os.File
				if f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777|0o200); err == nil {
					_, err = io.Copy(f, tr)
					err = errors.Join(err, f.Close())
				}
			}
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, path)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
