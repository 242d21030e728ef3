package local

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Desktop limits take one of two paths. With cgroup v2 delegated to the
// server (its cgroup, or the folder --local-desktop-cgroup names, offers
// the memory and pids controllers and lets the server enable them for its
// children), every desktop gets a cgroup of its own, desktop-<sessionId>,
// with memory.max and pids.max from InstanceLimits; bubblewrap is
// started inside it (clone3's CLONE_INTO_CGROUP), and stop kills whatever
// the cgroup still holds (cgroup.kill) and removes it. Otherwise every
// process of a desktop gets rlimits: the memory as RLIMIT_AS and the
// processes as RLIMIT_NPROC (per uid, so per session).

// The values of DesktopOptions.Cgroup that are not a folder.
const (
	CgroupAuto = "auto" // the server's own cgroup, when delegated
	CgroupOff  = "off"  // rlimits only
)

// cgroups is the delegated cgroup v2 folder under which desktops get their
// cgroups.
type cgroups struct {
	dir string
}

// desktopPrefix names the desktops' cgroups: desktop-<sessionId>.
const desktopPrefix = "desktop-"

// serverLeaf is the child cgroup the server moves itself into when its own
// cgroup must have no process of its own to enable controllers for its
// children (cgroup v2's "no internal processes" rule).
const serverLeaf = "opennimble-server"

// openCgroups decides how desktops are limited: setting is CgroupAuto,
// CgroupOff or a cgroup v2 folder. It returns nil and the reason when
// desktops get rlimits; a named folder that cannot be used is an error.
func openCgroups(setting string) (cg *cgroups, reason string, err error) {
	dir := setting
	switch setting {
	case CgroupOff:
		return nil, "--local-desktop-cgroup off", nil
	case CgroupAuto, "":
		own, err := ownCgroup()
		if err != nil {
			return nil, err.Error(), nil
		}
		dir = own
	default:
		if !filepath.IsAbs(setting) {
			return nil, "", fmt.Errorf("desktop cgroup %q: want auto, off or an absolute folder of cgroup v2", setting)
		}
	}
	cg, err = delegate(dir)
	switch {
	case err == nil:
		return cg, "", nil
	case setting == CgroupAuto || setting == "":
		return nil, err.Error(), nil
	}
	return nil, "", fmt.Errorf("desktop cgroup: %w", err)
}

// ownCgroup is the folder of the server's cgroup v2: its path in
// /proc/self/cgroup under the mount point of the cgroup2 file system.
func ownCgroup() (string, error) {
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("no cgroup v2: %w", err)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("no cgroup v2: %w", err)
	}
	return ownCgroupFrom(self, mounts)
}

// ownCgroupFrom reads the cgroup v2 path ("0::<path>") of /proc/self/cgroup
// and the cgroup2 mount of /proc/self/mountinfo (mount root, field 4;
// mount point, field 5; the file system type after " - ").
func ownCgroupFrom(self, mountinfo []byte) (string, error) {
	path := ""
	for _, line := range strings.Split(string(self), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			path = p
		}
	}
	if path == "" {
		return "", errors.New("no cgroup v2: /proc/self/cgroup has no 0:: line")
	}
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, fs := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(fs) == 0 || fs[0] != "cgroup2" {
			continue
		}
		rel, err := filepath.Rel(f[3], path)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // the server's cgroup is not under this mount
		}
		return filepath.Join(unescapeMount(f[4]), rel), nil
	}
	return "", errors.New("no cgroup v2 file system is mounted")
}

// unescapeMount undoes mountinfo's octal escapes of space, tab, newline
// and backslash.
func unescapeMount(s string) string {
	for _, e := range []struct{ esc, ch string }{{`\040`, " "}, {`\011`, "\t"}, {`\012`, "\n"}, {`\134`, `\`}} {
		s = strings.ReplaceAll(s, e.esc, e.ch)
	}
	return s
}

// delegate checks that dir offers the memory and pids controllers and
// enables them for its children. When dir holds processes (cgroup v2
// allows controllers for children only of a cgroup without any, the root
// aside), and they are the server's alone, the server moves itself into
// dir/opennimble-server first.
func delegate(dir string) (*cgroups, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("%s is not a cgroup v2 folder: %w", dir, err)
	}
	have := strings.Fields(string(b))
	var missing []string
	for _, c := range []string{"memory", "pids"} {
		if !slices.Contains(have, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("cgroup %s does not offer the %s controller(s) (it has: %s)", dir, strings.Join(missing, ", "), strings.Join(have, " "))
	}
	if err := enableControllers(dir); err != nil {
		if !errors.Is(err, syscall.EBUSY) {
			return nil, fmt.Errorf("cgroup %s is not delegated to the server: enable memory and pids for its children: %w", dir, err)
		}
		if err := moveSelfInto(dir); err != nil {
			return nil, err
		}
		if err := enableControllers(dir); err != nil {
			return nil, fmt.Errorf("cgroup %s: enable memory and pids for its children: %w", dir, err)
		}
	}
	return &cgroups{dir: dir}, nil
}

func enableControllers(dir string) error {
	return writeCgroup(filepath.Join(dir, "cgroup.subtree_control"), "+memory +pids")
}

// writeCgroup writes one value to a cgroup's control file, which exists.
func writeCgroup(file, value string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// moveSelfInto moves the server into dir/opennimble-server, if the
// processes of dir are the server's alone: other processes of dir are not
// the server's to move.
func moveSelfInto(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return err
	}
	self := strconv.Itoa(os.Getpid())
	for _, p := range strings.Fields(string(b)) {
		if p != self {
			return fmt.Errorf("cgroup %s holds processes other than the server (%s): run the server in a cgroup of its own, delegated to it", dir, p)
		}
	}
	leaf := filepath.Join(dir, serverLeaf)
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("cgroup %s: %w", leaf, err)
	}
	if err := writeCgroup(filepath.Join(leaf, "cgroup.procs"), self); err != nil {
		return fmt.Errorf("cgroup %s: move the server into it: %w", leaf, err)
	}
	return nil
}

// create makes the session's cgroup with its limits, replacing one a
// previous server left, and opens it for clone3 (the caller closes it).
func (c *cgroups) create(sessionID string, l Limits) (string, *os.File, error) {
	dir := filepath.Join(c.dir, desktopPrefix+sessionID)
	if err := c.remove(dir); err != nil {
		return "", nil, err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("cgroup of session %s: %w", sessionID, err)
	}
	if err := writeLimits(dir, l); err != nil {
		_ = c.remove(dir)
		return "", nil, fmt.Errorf("cgroup of session %s: %w", sessionID, err)
	}
	f, err := os.Open(dir)
	if err != nil {
		_ = c.remove(dir)
		return "", nil, err
	}
	return dir, f, nil
}

// writeLimits sets a desktop cgroup's memory.max and pids.max, and
// memory.swap.max to 0 where the host accounts swap (an instance's memory
// has no swap behind it). Beyond memory.max the OOM killer ends the
// desktop's largest process, as on an instance; if that is the X server,
// the session is reported lost.
func writeLimits(dir string, l Limits) error {
	for _, kv := range [][2]string{
		{"memory.max", strconv.FormatInt(l.MemoryMiB<<20, 10)},
		{"pids.max", strconv.Itoa(l.Processes)},
		{"memory.swap.max", "0"},
	} {
		err := writeCgroup(filepath.Join(dir, kv[0]), kv[1])
		if err != nil && !(kv[0] == "memory.swap.max" && errors.Is(err, os.ErrNotExist)) {
			return fmt.Errorf("%s: %w", kv[0], err)
		}
	}
	return nil
}

// oomNote says, for a desktop's cgroup whose memory.events counts OOM
// kills, that the desktop ran out of its memory; "" otherwise.
func oomNote(dir string) string {
	if dir == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(dir, "memory.events"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if n, ok := strings.CutPrefix(line, "oom_kill "); ok && n != "0" {
			max, _ := os.ReadFile(filepath.Join(dir, "memory.max"))
			return fmt.Sprintf(" after the OOM killer ended %s of its processes at its memory limit (memory.max %s bytes)", n, strings.TrimSpace(string(max)))
		}
	}
	return ""
}

// remove kills every process left in the cgroup dir (cgroup.kill), waits
// until it holds none and removes it; a missing cgroup is removed.
func (c *cgroups) remove(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err := writeCgroup(filepath.Join(dir, "cgroup.kill"), "1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cgroup %s: kill: %w", dir, err)
	}
	// SIGKILL is delivered at once, but a process leaves its cgroup only
	// once it has exited; a minute is far beyond what exiting takes.
	deadline := time.Now().Add(time.Minute)
	for {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: %w", dir, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sweep removes the desktops' cgroups a previous server left (killed, it
// could not remove them), with whatever they still hold.
func (c *cgroups) sweep() error {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), desktopPrefix) {
			errs = append(errs, c.remove(filepath.Join(c.dir, e.Name())))
		}
	}
	return errors.Join(errs...)
}
