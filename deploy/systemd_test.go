package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemdUnitVerifies checks deploy/systemd/opennimble.service with
// systemd-analyze verify (its ExecStart pointed at a binary that exists
// here): no unknown key, no bad value, and the hardening options it
// promises.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is needed (Debian package systemd; scripts/test installs it)")
	}
	unit, err := os.ReadFile("systemd/opennimble.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DynamicUser=yes", "StateDirectory=opennimble", "ProtectSystem=strict", "NoNewPrivileges=yes",
		"PrivateTmp=yes", "CapabilityBoundingSet=\n", "KillSignal=SIGTERM", "OPENNIMBLE_DATA_DIR=/var/lib/opennimble"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", strings.TrimSpace(want))
		}
	}
	dir := t.TempDir()
	bin := binary(t)
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/opennimble", bin)
	path := filepath.Join(dir, "opennimble.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// And it does notice a mistake.
	bad := filepath.Join(t.TempDir(), "opennimble.service")
	if err := os.WriteFile(bad, []byte(strings.Replace(text, "ProtectSystem=", "ProtectSystm=", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command(analyze, "verify", bad).CombinedOutput(); !strings.Contains(string(out), "ProtectSystm") {
		t.Fatalf("systemd-analyze verify did not notice an unknown key: %s", out)
	}
}
