package local

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	opennimble "github.com/opennimble/opennimble"
)

// Limits are what one desktop may use: the memory of the instance type
// its session asks for and a number of processes per vCPU.
type Limits struct {
	VCPUs int
	// MemoryMiB is the desktop's memory.max in its cgroup, or, with
	// rlimits, every one of its processes' address space (RLIMIT_AS).
	MemoryMiB int64
	// Processes is the desktop's pids.max in its cgroup, or, with
	// rlimits, the bound on the processes of the desktop's uid
	// (RLIMIT_NPROC): every session has a uid of its own.
	Processes int
}

// InstanceLimits maps every streaming instance type of the model to the
// vCPUs and memory of the EC2 instance it names; a desktop gets that memory
// and 512 processes per vCPU (see cgroup.go for how). A type not in the
// table gets g4dn.xlarge's.
var InstanceLimits = map[string]Limits{
	"g4dn.xlarge":   limits(4, 16),
	"g4dn.2xlarge":  limits(8, 32),
	"g4dn.4xlarge":  limits(16, 64),
	"g4dn.8xlarge":  limits(32, 128),
	"g4dn.12xlarge": limits(48, 192),
	"g4dn.16xlarge": limits(64, 256),
	"g3.4xlarge":    limits(16, 122),
	"g3s.xlarge":    limits(4, 30),
	"g5.xlarge":     limits(4, 16),
	"g5.2xlarge":    limits(8, 32),
	"g5.4xlarge":    limits(16, 64),
	"g5.8xlarge":    limits(32, 128),
	"g5.16xlarge":   limits(64, 256),
}

func limits(vcpus int, gib int64) Limits {
	return Limits{VCPUs: vcpus, MemoryMiB: gib << 10, Processes: 512 * vcpus}
}

// limitsFor is the row of InstanceLimits for an instance type.
func limitsFor(instanceType string) Limits {
	if l, ok := InstanceLimits[instanceType]; ok {
		return l
	}
	return InstanceLimits["g4dn.xlarge"]
}

// Inside the sandbox: where the start script and the runtime folder are.
const (
	sandboxScript  = "/opt/opennimble/session-start.sh"
	sandboxRuntime = "/run/opennimble"
)

// reserved are the folders of the sandbox that neither the home nor a
// shared file system may be mounted on or in.
var reserved = []string{"/", "/usr", "/etc", "/proc", "/dev", "/tmp", "/var/tmp", "/run", "/opt/opennimble", "/bin", "/lib", "/lib64", "/sbin"}

// checkMountPoint refuses a mount point that is relative, not clean, or on
// or inside a folder the sandbox needs for itself.
func checkMountPoint(what, p string) error {
	if !path.IsAbs(p) || path.Clean(p) != p || strings.ContainsAny(p, "\x00\n") {
		return fmt.Errorf("%s %q is not an absolute, clean path", what, p)
	}
	for _, r := range reserved {
		if p == r || r != "/" && strings.HasPrefix(p, r+"/") {
			return fmt.Errorf("%s %q is inside %s, which the workstation's system uses", what, p, r)
		}
	}
	return nil
}

// sandbox describes one desktop's bubblewrap sandbox.
type sandbox struct {
	sessionID  string
	volume     string // the session's volume on the host
	runtime    string // the session's runtime folder on the host
	script     string // session-start.sh on the host
	home       string // where the volume appears inside
	uid        int
	limits     Limits
	rlimits    bool // apply limits as rlimits (no cgroup)
	geometry   string
	mounts     []mount // shared file systems
	systemDirs []string
}

type mount struct{ source, target string }

// args are bubblewrap's arguments: new PID, IPC and UTS namespaces; the
// system's /usr and /etc read-only and nothing else of the host's files but
// the session's volume (at its home), its runtime folder and its shared file
// systems; a private /tmp and /dev; and, inside, the start script run by
// prlimit (the instance type's limits, when they are rlimits rather than
// the sandbox's cgroup) and setpriv (the session's uid, no capabilities,
// no new privileges). The host network stays shared: a
// workstation reaches its studio's servers, while its X server listens on
// no TCP port and no abstract socket (see session-start.sh).
func (s *sandbox) args() []string {
	a := []string{"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session",
		"--hostname", hostname(s.sessionID), "--info-fd", "3",
		"--perms", "0755", "--dir", "/var", "--perms", "0755", "--dir", "/var/cache"}
	for _, dir := range s.systemDirs {
		if target, err := os.Readlink(dir); err == nil {
			a = append(a, "--symlink", target, dir)
		} else {
			a = append(a, "--ro-bind", dir, dir)
		}
	}
	a = append(a, "--proc", "/proc", "--dev", "/dev",
		"--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/var/tmp")
	var dirs []string
	for _, p := range []string{sandboxRuntime, sandboxScript, s.home} {
		dirs = parents(dirs, p)
	}
	for _, m := range s.mounts {
		dirs = parents(dirs, m.target)
	}
	for _, d := range dirs {
		a = append(a, "--perms", "0755", "--dir", d)
	}
	a = append(a, "--bind", s.runtime, sandboxRuntime, "--ro-bind", s.script, sandboxScript, "--bind", s.volume, s.home)
	for _, m := range s.mounts {
		a = append(a, "--bind", m.source, m.target)
	}
	uid := strconv.Itoa(s.uid)
	a = append(a, "--chdir", s.home, "--")
	if s.rlimits {
		a = append(a, "prlimit", fmt.Sprintf("--as=%d", s.limits.MemoryMiB<<20), fmt.Sprintf("--nproc=%d", s.limits.Processes), "--")
	}
	return append(a, "setpriv", "--reuid", uid, "--regid", uid, "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
		"/bin/sh", sandboxScript)
}

// env is the whole environment of the sandbox: nothing of the server's
// (which may hold credentials) is passed on.
func (s *sandbox) env() []string {
	return []string{
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + s.home, "USER=" + path.Base(s.home), "LOGNAME=" + path.Base(s.home),
		"SHELL=/bin/sh", "LANG=C.UTF-8", "NIMBLE_RUNTIME=" + sandboxRuntime, "NIMBLE_SESSION_ID=" + s.sessionID,
		"NIMBLE_GEOMETRY=" + s.geometry,
	}
}

// parents adds the folders above p (not / itself) that dirs lacks, top
// first, so that bubblewrap makes them traversable (0755) rather than with
// its default 0700.
func parents(dirs []string, p string) []string {
	var up []string
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		up = append(up, d)
	}
	for i := len(up) - 1; i >= 0; i-- {
		if !slices.Contains(dirs, up[i]) {
			dirs = append(dirs, up[i])
		}
	}
	return dirs
}

// hostname is the sandbox's host name: the session id, within the 64
// bytes a host name may have.
func hostname(id string) string {
	if len(id) > 63 {
		return id[:63]
	}
	return id
}

// systemDirs are the host folders a desktop sees (read-only): the
// installed system, not the host's data.
func systemDirs() []string {
	var out []string
	// /var/cache/fontconfig spares every desktop building the font cache
	// (seconds of CPU per start).
	for _, d := range []string{"/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/var/cache/fontconfig"} {
		if _, err := os.Lstat(d); err == nil {
			out = append(out, d)
		}
	}
	return out
}

// sharedMounts checks the shared file systems of a workstation: each
// endpoint must be a folder inside one of the allowed roots (symbolic links
// resolved) and each mount point a free place.
func sharedMounts(fss []opennimble.SharedFileSystem, roots []string) ([]mount, error) {
	var out []mount
	for _, fs := range fss {
		src, err := sharedSource(fs, roots)
		if err == nil {
			err = checkMountPoint("linuxMountPoint", fs.MountPoint)
		}
		if err != nil {
			return nil, &opennimble.DriverError{StatusCode: "INTERNAL_ERROR",
				Message: fmt.Sprintf("shared file system of studio component %s (%s): %v", fs.ComponentName, fs.ComponentID, err)}
		}
		out = append(out, mount{source: src, target: fs.MountPoint})
	}
	return out, nil
}

// sharedSource is the host folder of a shared file system: its endpoint
// (a path or file:// URL) with shareName below it, when set.
func sharedSource(fs opennimble.SharedFileSystem, roots []string) (string, error) {
	p := strings.TrimPrefix(fs.Endpoint, "file://")
	if fs.ShareName != "" {
		p = filepath.Join(p, fs.ShareName)
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("endpoint %q is not a folder on the server (an absolute path)", fs.Endpoint)
	}
	if len(roots) == 0 {
		return "", fmt.Errorf("folder %s is refused: no shared file system root is allowed (--local-shared-roots)", p)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("folder %s: %w", p, err)
	}
	if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("%s is not a folder", p)
	}
	for _, r := range roots {
		if rel, err := filepath.Rel(r, real); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return real, nil
		}
	}
	return "", fmt.Errorf("folder %s is outside the allowed roots %s", p, strings.Join(roots, ", "))
}

// DefaultGeometry is a desktop's screen unless configured: 24-bit colour,
// which noVNC shows without banding, at a size most laptops show whole.
const DefaultGeometry = "1280x800x24"

// CheckGeometry accepts WIDTHxHEIGHT or WIDTHxHEIGHTxDEPTH, each side
// 320-8192 pixels and the depth 16 or 24 (the depths TigerVNC's Xvnc
// serves with true colour; 16 halves the framebuffer's memory).
func CheckGeometry(g string) error {
	f := strings.Split(g, "x")
	if len(f) < 2 || len(f) > 3 {
		return fmt.Errorf("%q: want WIDTHxHEIGHT or WIDTHxHEIGHTxDEPTH, e.g. %s", g, DefaultGeometry)
	}
	for i, v := range f[:2] {
		n, err := strconv.Atoi(v)
		if err != nil || n < 320 || n > 8192 {
			return fmt.Errorf("%q: the %s %q is not a number of pixels from 320 to 8192", g, []string{"width", "height"}[i], v)
		}
	}
	if len(f) == 3 && f[2] != "16" && f[2] != "24" {
		return fmt.Errorf("%q: the depth %q is not 16 or 24", g, f[2])
	}
	return nil
}
