package kubetest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// snapshotModule holds the VolumeSnapshot CRDs in its folder config/crd.
const snapshotModule = "github.com/kubernetes-csi/external-snapshotter/client/v8"

// assetsDir returns the folder holding etcd and kube-apiserver:
// $KUBEBUILDER_ASSETS when set, else what scripts/kube-assets prints.
func assetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		if err := checkAssets(dir); err != nil {
			return "", fmt.Errorf("KUBEBUILDER_ASSETS=%s: %v", dir, err)
		}
		return dir, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "scripts", "kube-assets")
	cmd := exec.Command(script)
	cmd.Dir = root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("no KUBEBUILDER_ASSETS, and %s failed (%v); it builds kube-apiserver "+
			"(needs Go and network once) and installs etcd-server (needs apt and root or sudo once); "+
			"run it by hand, or set KUBEBUILDER_ASSETS to a folder holding etcd and kube-apiserver:\n%s",
			script, err, stderr.String())
	}
	out := strings.TrimSpace(stdout.String())
	if out == "" {
		return "", fmt.Errorf("%s printed no folder:\n%s", script, stderr.String())
	}
	dir := out[strings.LastIndexByte(out, '\n')+1:] // the last line
	if err := checkAssets(dir); err != nil {
		return "", fmt.Errorf("%s printed %s: %v", script, dir, err)
	}
	return dir, nil
}

// checkAssets says what is missing from an assets folder.
func checkAssets(dir string) error {
	for _, name := range []string{"etcd", "kube-apiserver"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("no %s: %v", name, err)
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s is not an executable file", filepath.Join(dir, name))
		}
	}
	return nil
}

// repoRoot walks up from the working folder (a test's package folder) to
// the folder holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working folder, so no scripts/kube-assets; set KUBEBUILDER_ASSETS")
		}
		dir = parent
	}
}

// snapshotCRDDir returns the config/crd folder of the snapshot client
// module, at the version go.mod requires.
func snapshotCRDDir() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", snapshotModule)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %v\n%s", snapshotModule, err, stderr.String())
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" {
		return "", fmt.Errorf("module %s is not in the module cache; run go mod download %s", snapshotModule, snapshotModule)
	}
	dir := filepath.Join(mod, "config", "crd")
	if _, err := os.Stat(filepath.Join(dir, "snapshot.storage.k8s.io_volumesnapshots.yaml")); err != nil {
		return "", fmt.Errorf("VolumeSnapshot CRDs not found in %s: %v", dir, err)
	}
	return dir, nil
}
